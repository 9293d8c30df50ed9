// What the server tells the dashboard before anyone signs in: whether "sign in as" is
// offered (development, loopback), and which origins may embed it and hand it a token.
export interface DashboardConfig {
  devSignIn: boolean;
  embedOrigins: string[];
}

export async function loadConfig(): Promise<DashboardConfig> {
  try {
    const response = await fetch('/dashboard/config.json', { cache: 'no-store' });
    if (response.ok) return (await response.json()) as DashboardConfig;
  } catch {}
  return { devSignIn: false, embedOrigins: [] };
}
