// The signed-in token: in sessionStorage (gone with the tab), sent only in the Authorization header. A link
// from `npm run demo` carries it in the URL fragment (`/#token=...`, never sent to a server): it is moved
// here and the address bar is cleaned before anything else runs.
const KEY = 'vehicle-cloud.token';

export function tokenFromFragment(location: Location, history: History): void {
  const match = /^#token=([^&]+)/.exec(location.hash);
  if (!match) return;
  sessionStorage.setItem(KEY, decodeURIComponent(match[1]!));
  history.replaceState(null, '', `${location.pathname}#/`);
}

export const currentToken = (): string | null => sessionStorage.getItem(KEY);
export const saveToken = (token: string): void => sessionStorage.setItem(KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(KEY);
