// The cockpit's shell: sign-in, navigation, and the view the hash route names.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, setUnauthorizedHandler, whoIs, type Me } from './api.ts';
import { href, useRoute, type Route } from './router.ts';
import { currentToken, forgetToken, saveToken } from './session.ts';
import { BrandPage, BrandsTable, ModelPage } from './views/brands.tsx';
import { FaultsView } from './views/faults.tsx';
import { MapView } from './views/map-view.tsx';
import { Overview } from './views/overview.tsx';
import { VehiclePage } from './views/vehicle.tsx';
import { Vehicles } from './views/vehicles.tsx';

const NAV = [
  { label: 'Overview', segments: [] as string[], match: (r: Route) => r.segments.length === 0 },
  { label: 'Brands', segments: ['brands'], match: (r: Route) => r.segments[0] === 'brands' },
  { label: 'Vehicles', segments: ['vehicles'], match: (r: Route) => r.segments[0] === 'vehicles' },
  { label: 'Map', segments: ['map'], match: (r: Route) => r.segments[0] === 'map' },
  { label: 'Faults', segments: ['faults'], match: (r: Route) => r.segments[0] === 'faults' },
];

export function App() {
  // with a token, the views load at once, in parallel with the question of who the token is
  const [signedIn, setSignedIn] = useState(currentToken() !== null);
  const [me, setMe] = useState<Me>();
  const [notice, setNotice] = useState<string>();
  useEffect(() => {
    const signOut = (reason?: string) => {
      forgetToken();
      setSignedIn(false);
      setMe(undefined);
      setNotice(reason);
    };
    setUnauthorizedHandler(() => signOut('The service no longer accepts this token. Sign in again.'));
    const token = currentToken();
    if (token) whoIs(token).then(setMe, (err: unknown) => signOut(err instanceof ApiError && err.statusCode === 401 ? 'The token was not accepted.' : `Could not reach the service: ${String(err)}`));
  }, []);
  if (!signedIn)
    return (
      <SignIn
        notice={notice}
        onSignedIn={(who) => {
          setMe(who);
          setSignedIn(true);
        }}
      />
    );
  return (
    <Shell
      me={me}
      onSignOut={() => {
        forgetToken();
        setNotice('Signed out.');
        setMe(undefined);
        setSignedIn(false);
      }}
    />
  );
}

function SignIn({ notice, onSignedIn }: { notice?: string; onSignedIn: (me: Me) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" class="signin">
      <h1>vehicle-cloud cockpit</h1>
      <p>Sign in with an API token: the admin token that the service printed at start, or an automaker's tenant token.</p>
      {notice ? <p role="status">{notice}</p> : null}
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            const me = await whoIs(token.trim());
            saveToken(token.trim());
            setToken('');
            onSignedIn(me);
          } catch (err) {
            setError(err instanceof ApiError && err.statusCode === 401 ? 'This token is not accepted.' : `Could not sign in: ${err instanceof Error ? err.message : String(err)}`);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} aria-invalid={error ? true : undefined} aria-describedby={error ? 'token-error' : undefined} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error ? (
          <p id="token-error" role="alert" class="error">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}

function Shell({ me, onSignOut }: { me: Me | undefined; onSignOut: () => void }) {
  const route = useRoute();
  useEffect(() => {
    // move focus to the new view's heading, so keyboard and screen-reader users land on it
    const title = document.getElementById('view-title');
    title?.setAttribute('tabindex', '-1');
    title?.focus({ preventScroll: true });
  }, [route.segments.join('/')]);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href([])}>
          vehicle-cloud
        </a>
        <nav aria-label="Views">
          <ul>
            {NAV.map((n) => (
              <li key={n.label}>
                <a href={href(n.segments)} aria-current={n.match(route) ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>{me === undefined ? '…' : me.kind === 'admin' ? 'Admin' : `${me.name} (${me.brands?.join(', ')})`}</span>
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <View route={route} me={me} />
      </main>
    </>
  );
}

function View({ route, me }: { route: Route; me: Me | undefined }) {
  const [first, second, third, fourth] = route.segments;
  if (first === undefined) return <Overview route={route} me={me} />;
  if (first === 'brands' && second === undefined) return <BrandsTable route={route} />;
  if (first === 'brands' && second !== undefined && third === undefined) return <BrandPage key={second} route={route} brand={second} />;
  if (first === 'brands' && second !== undefined && third === 'models' && fourth !== undefined) return <ModelPage key={`${second}/${fourth}`} route={route} brand={second} model={fourth} />;
  if (first === 'vehicles' && second === undefined) return <Vehicles route={route} />;
  if (first === 'vehicles' && second !== undefined) return <VehiclePage key={second} route={route} vin={second} />;
  if (first === 'map') return <MapView route={route} />;
  if (first === 'faults') return <FaultsView route={route} me={me} />;
  return (
    <section>
      <h1 id="view-title" tabIndex={-1}>
        Not found
      </h1>
      <p>
        No view at this address. <a href={href([])}>Go to the overview</a>.
      </p>
    </section>
  );
}
