// The portal's shell: who is signed in (GET /api/me), the nav bar (pages, theme, sign-out; a menu on phone-sized
// screens), which page a path shows, and the browser phone that stays registered while the user moves between pages.
// An ended session (4 h without activity, or signed out elsewhere) returns to the sign-in page with a message.
import { render, type JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, setCsrfToken, setSessionEndedHandler, type Me, type PhoneCredentials } from './api.ts';
import { AdminPage } from './pages/admin.tsx';
import { ForgotPage, ResetPage } from './pages/password-reset.tsx';
import { MusicPage } from './pages/music.tsx';
import { PhonePage } from './pages/phone.tsx';
import { ProvisionPage } from './pages/provision.tsx';
import { SettingsPage } from './pages/settings.tsx';
import { SignInPage } from './pages/sign-in.tsx';
import { navigate, useLocation } from './router.ts';
import { Softphone } from './softphone.ts';
import { applyTheme, nextTheme, saveTheme, storedTheme, type ThemeChoice } from './theme.ts';
import { Link } from './ui.tsx';

/** Pages that need no session. */
const PUBLIC = new Set(['/sign-in', '/forgot-password', '/reset-password', '/provision']);

export const SESSION_ENDED = 'Your session has ended (4 hours without activity, or you signed out elsewhere). Please sign in again.';

const isAdmin = (me: Me): boolean => me.role === 'tenant-admin' || me.role === 'operator';

function ThemeButton(): JSX.Element {
  const [choice, setChoice] = useState<ThemeChoice>(storedTheme());
  const label = { system: 'Theme: system', light: 'Theme: light', dark: 'Theme: dark' }[choice];
  return (
    <button
      type="button"
      class="icon-btn"
      id="theme-toggle"
      aria-label={`${label} (click to change)`}
      title={`${label} — click to change`}
      onClick={() => {
        const n = nextTheme(choice);
        saveTheme(n);
        setChoice(n);
      }}
    >
      <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
        <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2" />
        <path d="M12 3a9 9 0 0 1 0 18z" fill="currentColor" />
      </svg>
      <span class="theme-name" aria-hidden="true">
        {choice}
      </span>
    </button>
  );
}

function SignOutIcon(): JSX.Element {
  return (
    <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
      <path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4" />
      <path d="M16 17l5-5-5-5" />
      <path d="M21 12H9" />
    </svg>
  );
}

function NavBar(props: { me: Me | null; path: string; onSignOut: () => void }): JSX.Element {
  const [open, setOpen] = useState(false);
  const me = props.me;
  const links: Array<[string, string]> = me
    ? [['/phone', 'Phone'], ['/settings', 'Settings'], ...(isAdmin(me) ? ([['/admin', 'Extensions'], ['/music', 'Hold music']] as Array<[string, string]>) : [])]
    : [];
  const current = props.path === '/' ? '/phone' : props.path;
  return (
    <header class="nav">
      <a class="brand" href={me ? '/phone' : '/sign-in'}>
        sipedge
      </a>
      {me && (
        <button type="button" class="icon-btn menu-btn" aria-expanded={open} aria-controls="nav-links" aria-label="Menu" onClick={() => setOpen(!open)}>
          <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" stroke="currentColor" stroke-width="2" stroke-linecap="round">
            <path d="M4 7h16M4 12h16M4 17h16" />
          </svg>
        </button>
      )}
      <nav id="nav-links" class={open ? 'nav-links open' : 'nav-links'} aria-label="Main">
        {links.map(([to, text]) => (
          <span key={to} onClick={() => setOpen(false)}>
            <Link to={to} class="nav-link" current={current === to}>
              {text}
            </Link>
          </span>
        ))}
        {me && (
          <button type="button" class="nav-link menu-only" onClick={props.onSignOut}>
            Sign out
          </button>
        )}
      </nav>
      <div class="nav-end">
        {me && <span class="whoami">{me.username}</span>}
        <ThemeButton />
        {me && (
          <button type="button" class="icon-btn desktop-only" id="sign-out" aria-label="Sign out" title="Sign out" onClick={props.onSignOut}>
            <SignOutIcon />
          </button>
        )}
      </div>
    </header>
  );
}

function App(): JSX.Element {
  const { path, query } = useLocation();
  /** undefined while asking the server, null when signed out. */
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const phone = useMemo(() => new Softphone(() => api<PhoneCredentials>('GET', '/api/voip/webrtc')), []);

  useEffect(() => {
    setSessionEndedHandler(() => {
      void phone.stop();
      setMe((was) => {
        if (was) setNotice(SESSION_ENDED);
        return null;
      });
      setCsrfToken(undefined);
      if (!PUBLIC.has(location.pathname)) navigate('/sign-in');
    });
    api<Me>('GET', '/api/me')
      .then((m) => setMe(m))
      .catch(() => setMe(null));
  }, []);

  // The phone registers while someone is signed in, and stops on sign-out.
  useEffect(() => {
    if (me) void phone.start();
    else if (me === null) void phone.stop();
  }, [me?.username]);

  useEffect(() => {
    if (me === undefined) return;
    if (me === null && !PUBLIC.has(path)) navigate('/sign-in', true);
    if (me && (path === '/sign-in' || path === '/')) navigate('/phone', true);
  }, [me, path]);

  // A new page: its title, and the keyboard/screen-reader focus at the start of its content (not left on a control
  // of the page before).
  const firstPath = useRef(true);
  useEffect(() => {
    if (firstPath.current) firstPath.current = false;
    else document.getElementById('main')?.focus();
    const titles: Record<string, string> = {
      '/sign-in': 'Sign in',
      '/forgot-password': 'Forgot password',
      '/reset-password': 'Reset password',
      '/provision': 'Phone settings',
      '/phone': 'Phone',
      '/settings': 'Settings',
      '/admin': 'Extensions',
      '/music': 'Hold music',
    };
    document.title = `${titles[path] ?? 'Portal'} · sipedge`;
  }, [path]);

  const signedIn = (m: Me): void => {
    setNotice(undefined);
    setMe(m);
    navigate('/phone');
  };
  const signOut = async (): Promise<void> => {
    await phone.stop();
    await api('POST', '/api/logout').catch(() => undefined);
    setCsrfToken(undefined);
    setMe(null);
    setNotice('You have signed out.');
    navigate('/sign-in');
  };

  let page: JSX.Element | null = null;
  if (path === '/forgot-password') page = <ForgotPage />;
  else if (path === '/reset-password') page = <ResetPage token={query.get('token') ?? ''} onDone={(msg) => setNotice(msg)} />;
  else if (path === '/provision') page = <ProvisionPage token={query.get('token') ?? ''} />;
  else if (me === undefined) page = <p class="loading">Loading…</p>;
  else if (me === null) page = <SignInPage notice={notice} onSignedIn={signedIn} />;
  else if (path === '/settings') page = <SettingsPage me={me} onMeChanged={setMe} phone={phone} />;
  else if (path === '/admin' && isAdmin(me)) page = <AdminPage me={me} />;
  else if (path === '/music' && isAdmin(me)) page = <MusicPage me={me} />;
  else page = <PhonePage phone={phone} />;

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <NavBar me={me ?? null} path={path} onSignOut={() => void signOut()} />
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

applyTheme(storedTheme());
render(<App />, document.getElementById('app')!);
