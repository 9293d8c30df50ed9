// The dashboard's frame: the signed-in layout (navigation, who you are, sign out) and its
// routes. Signed out, every address shows the sign-in screen and comes back after it.
import { ViewerDocument } from '@keygate/sdk/documents';
import { lazy, Suspense, useMemo } from 'react';
import { Provider, useQuery } from 'urql';
import { Link, Route, Switch, useLocation } from 'wouter';
import { createClient } from './client.ts';
import { type DashboardConfig, IntegrationContext } from './config.ts';
import { ApplicationKeys } from './screens/application-keys.tsx';
import { Applications } from './screens/applications.tsx';
import { SignIn } from './screens/sign-in.tsx';
import { settlePendingSwitch, signOut, useSession } from './session.ts';
import { ScreenBoundary } from './ui/boundary.tsx';
import { Button } from './ui/controls.tsx';
import { Sheet } from './ui/dialogs.tsx';

const Overview = lazy(() => import('./screens/overview.tsx'));
const KeyPage = lazy(() => import('./screens/key-page.tsx'));
const Audit = lazy(() => import('./screens/audit.tsx'));
const Webhooks = lazy(() => import('./screens/webhooks.tsx'));
const Roles = lazy(() => import('./screens/roles.tsx'));
const Policy = lazy(() => import('./screens/policy.tsx'));
const Identities = lazy(() => import('./screens/identities.tsx'));
const IdentityPage = lazy(() =>
  import('./screens/identities.tsx').then((module) => ({ default: module.IdentityPage })),
);

export function App({ config }: { config: DashboardConfig }) {
  const { session, reason, pending } = useSession();
  // A new client per session: nothing one merchant loaded is ever shown to the next.
  const client = useMemo(() => (session ? createClient() : null), [session?.token]);
  if (!session || !client) return <SignIn devSignIn={config.devSignIn} reason={reason} />;
  return (
    <Provider value={client}>
      <IntegrationContext.Provider value={config.integration}>
        <Layout>
          <Screens />
        </Layout>
      </IntegrationContext.Provider>
      {pending ? (
        <Sheet title="Switch to another merchant?" isOpen onClose={() => settlePendingSwitch(false)} role="alertdialog">
          <div className="dialog-body">
            <p>
              This tab is signed in as <strong>{pending.current}</strong>. The link you opened signs in as{' '}
              <strong>{pending.next}</strong>.
            </p>
          </div>
          <div className="dialog-actions">
            <Button onPress={() => settlePendingSwitch(false)}>Stay signed in as {pending.current}</Button>
            <Button variant="primary" onPress={() => settlePendingSwitch(true)}>
              Switch to {pending.next}
            </Button>
          </div>
        </Sheet>
      ) : null}
    </Provider>
  );
}

function Screens() {
  const [location] = useLocation();
  return (
    <ScreenBoundary resetKey={location}>
      <Suspense fallback={<p className="muted">Loading…</p>}>
        <Switch>
          <Route path="/" component={Overview} />
          <Route path="/applications" component={Applications} />
          <Route path="/applications/:id">{(params) => <ApplicationKeys id={params.id} />}</Route>
          <Route path="/keys/:id">{(params) => <KeyPage id={params.id} />}</Route>
          <Route path="/identities" component={Identities} />
          <Route path="/identities/:id">{(params) => <IdentityPage id={params.id} />}</Route>
          <Route path="/roles" component={Roles} />
          <Route path="/policy" component={Policy} />
          <Route path="/audit" component={Audit} />
          <Route path="/webhooks" component={Webhooks} />
          <Route>
            <NotFound />
          </Route>
        </Switch>
      </Suspense>
    </ScreenBoundary>
  );
}

function Layout({ children }: { children: React.ReactNode }) {
  const [location] = useLocation();
  const [{ data }] = useQuery({ query: ViewerDocument });
  const links = [
    { href: '/', label: 'Overview' },
    { href: '/applications', label: 'Applications' },
    { href: '/identities', label: 'Identities' },
    { href: '/roles', label: 'Roles' },
    { href: '/policy', label: 'Policy' },
    { href: '/audit', label: 'Audit trail' },
    { href: '/webhooks', label: 'Webhooks' },
  ];
  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/" className="brand">
          Keygate
        </Link>
        <nav aria-label="Dashboard" className="nav">
          {links.map((link) => (
            <Link
              key={link.href}
              href={link.href}
              className="nav-link"
              aria-current={
                (link.href === '/' ? location === '/' : location.startsWith(link.href)) ? 'page' : undefined
              }
            >
              {link.label}
            </Link>
          ))}
        </nav>
        <div className="whoami">
          {data?.viewer ? <span className="muted">Merchant {data.viewer.merchantId}</span> : null}
          <Button variant="quiet" onPress={() => signOut()}>
            Sign out
          </Button>
        </div>
      </header>
      <main id="main" className="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <Link href="/applications">Go to your applications</Link>.
      </p>
    </section>
  );
}
