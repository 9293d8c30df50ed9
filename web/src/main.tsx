// Entry: read the server's dashboard settings, take the token (URL hash, this tab's storage,
// or an embedding page), then render.
import { StrictMode, startTransition } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { loadConfig } from './config.ts';
import { startSession } from './session.ts';
import './styles.css';

const config = await loadConfig();
startSession(config.embedOrigins);
// The first render as a transition: React renders it in slices, so loading the dashboard never
// holds the main thread for long (Lighthouse's total blocking time).
const root = createRoot(document.getElementById('root')!);
startTransition(() =>
  root.render(
    <StrictMode>
      <App config={config} />
    </StrictMode>,
  ),
);
