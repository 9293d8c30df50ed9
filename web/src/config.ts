import { createContext } from 'react';

// What the server tells the dashboard before anyone signs in: whether "sign in as" is
// offered (development, loopback), and which origins may embed it and hand it a token.
export interface DashboardConfig {
  devSignIn: boolean;
  embedOrigins: string[];
  /** The platform's API and the header its keys go in, for the integration snippets. */
  integration: { apiUrl: string; keyHeader: string };
}

export const DEFAULT_INTEGRATION = { apiUrl: 'https://api.example.com', keyHeader: 'Authorization' };

/** The integration settings, for the screens that show snippets. */
export const IntegrationContext = createContext<DashboardConfig['integration']>(DEFAULT_INTEGRATION);

export async function loadConfig(): Promise<DashboardConfig> {
  try {
    const response = await fetch('/dashboard/config.json', { cache: 'no-store' });
    if (response.ok) {
      const config = (await response.json()) as Partial<DashboardConfig>;
      return {
        devSignIn: config.devSignIn === true,
        embedOrigins: config.embedOrigins ?? [],
        integration: config.integration ?? DEFAULT_INTEGRATION,
      };
    }
  } catch {}
  return { devSignIn: false, embedOrigins: [], integration: DEFAULT_INTEGRATION };
}
