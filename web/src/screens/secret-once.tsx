// A secret shown once (a new key, a rolled key): copy it, then say you have stored it.
// The dialog cannot be dismissed by accident; once closed, the secret is gone from the page.
import { useState } from 'react';
import { Button, Check } from '../ui/controls.tsx';
import { Sheet } from '../ui/dialogs.tsx';
import { Notice } from '../ui/feedback.tsx';

export function SecretOnce({
  title,
  secret,
  onDone,
  children,
}: {
  title: string;
  secret: string | null;
  onDone: () => void;
  children?: React.ReactNode;
}) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const [stored, setStored] = useState(false);
  const close = () => {
    setCopied(null);
    setStored(false);
    onDone();
  };
  return (
    <Sheet title={title} isOpen={secret !== null} onClose={close} dismissable={false}>
      <p>
        This is the only time the key is shown: Keygate keeps only a hash of it. Store it in your secret manager now. If
        you lose it, revoke the key and create another.
      </p>
      {children}
      <div className="secret">
        <code data-testid="secret">{secret}</code>
        <Button
          variant="primary"
          onPress={() => {
            navigator.clipboard.writeText(secret ?? '').then(
              () => setCopied('yes'),
              () => setCopied('failed'),
            );
          }}
        >
          Copy key
        </Button>
      </div>
      {copied === 'yes' ? <Notice>Copied to the clipboard.</Notice> : null}
      {copied === 'failed' ? <Notice>The browser did not allow copying: select the key and copy it.</Notice> : null}
      <Check isSelected={stored} onChange={setStored}>
        I have stored this key
      </Check>
      <div className="dialog-actions">
        <Button variant="primary" isDisabled={!stored} onPress={close}>
          Done
        </Button>
      </div>
    </Sheet>
  );
}
