// "Integration snippets" on a key's page: how to call the platform's API with this key, in curl,
// Node (fetch) and Python (requests), with the header the platform configured. The key's prefix
// stands in for its secret, which Keygate never has again after showing it once.
import { useContext, useState } from 'react';
import { Tab, TabList, TabPanel, Tabs } from 'react-aria-components';
import { IntegrationContext } from '../config.ts';
import { Button } from '../ui/controls.tsx';
import { Notice } from '../ui/feedback.tsx';

/** The three snippets for a key: the API's address, its key header, and the key's prefix. */
export function snippets(apiUrl: string, keyHeader: string, prefix: string) {
  const placeholder = `${prefix}…`;
  const bearer = keyHeader.toLowerCase() === 'authorization';
  const header = bearer ? 'Authorization' : keyHeader;
  const value = bearer ? `Bearer ${placeholder}` : placeholder;
  // Quoted for each language: the URL is the platform's configuration, not to be trusted blindly.
  const shell = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
  const literal = (text: string) => JSON.stringify(text);
  return {
    curl: `curl ${shell(apiUrl)} \\\n  -H ${shell(`${header}: ${value}`)}`,
    node: `const response = await fetch(${literal(apiUrl)}, {\n  headers: { ${literal(header)}: ${literal(value)} },\n});\nconsole.log(response.status, await response.text());`,
    python: `import requests\n\nresponse = requests.get(\n    ${literal(apiUrl)},\n    headers={${literal(header)}: ${literal(value)}},\n)\nprint(response.status_code, response.text)`,
  };
}

const LANGUAGES = [
  { id: 'curl', label: 'curl' },
  { id: 'node', label: 'Node (fetch)' },
  { id: 'python', label: 'Python (requests)' },
] as const;

export function IntegrationSnippets({ prefix }: { prefix: string }) {
  const { apiUrl, keyHeader } = useContext(IntegrationContext);
  const code = snippets(apiUrl, keyHeader, prefix);
  const [copied, setCopied] = useState<string | null>(null);
  return (
    <section aria-labelledby="snippets-heading" className="card">
      <h2 id="snippets-heading">Integration snippets</h2>
      <p className="muted small">
        Replace <code>{prefix}…</code> with the key's secret. It was shown once, when the key was created; Keygate does
        not keep it.
      </p>
      <Tabs className="tabs" onSelectionChange={() => setCopied(null)}>
        <TabList aria-label="Language" className="tab-list">
          {LANGUAGES.map((language) => (
            <Tab key={language.id} id={language.id} className="tab">
              {language.label}
            </Tab>
          ))}
        </TabList>
        {LANGUAGES.map((language) => (
          <TabPanel key={language.id} id={language.id} className="tab-panel">
            <pre className="code" data-testid={`snippet-${language.id}`}>
              <code>{code[language.id]}</code>
            </pre>
            <Button
              onPress={() =>
                navigator.clipboard.writeText(code[language.id]).then(
                  () => setCopied(language.id),
                  () => setCopied('failed'),
                )
              }
            >
              Copy {language.label}
            </Button>
            {copied === language.id ? <Notice>Copied to the clipboard.</Notice> : null}
            {copied === 'failed' ? (
              <Notice>The browser did not allow copying: select the code and copy it.</Notice>
            ) : null}
          </TabPanel>
        ))}
      </Tabs>
    </section>
  );
}
