// Entry: read the server's dashboard settings, take the token (URL hash, this tab's storage,
// or an embedding page), then render.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { loadConfig } from './config.ts';
import { startSession } from './session.ts';
import './styles.css';

const config = await loadConfig();
startSession(config.embedOrigins);
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App config={config} />
  </StrictMode>,
);
