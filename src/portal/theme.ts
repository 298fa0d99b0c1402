// Theme choice (system, light, dark), kept in localStorage and applied as <html data-theme>. The nav bar's half-circle
// button cycles it; theme-boot.ts applies it before the first paint.

export type ThemeChoice = 'system' | 'light' | 'dark';

export const THEME_KEY = 'sipedge-theme';
const ORDER: ThemeChoice[] = ['system', 'light', 'dark'];

export function storedTheme(): ThemeChoice {
  try {
    const v = localStorage.getItem(THEME_KEY);
    return v === 'light' || v === 'dark' || v === 'system' ? v : 'system';
  } catch {
    return 'system';
  }
}

const systemDark = (): boolean => window.matchMedia('(prefers-color-scheme: dark)').matches;

/** Sets <html data-theme="light|dark"> (system resolved now) and data-theme-choice for the button's label. */
export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  const resolved = choice === 'system' ? (systemDark() ? 'dark' : 'light') : choice;
  root.dataset.theme = resolved;
  root.dataset.themeChoice = choice;
  root.style.colorScheme = resolved;
}

export function nextTheme(c: ThemeChoice): ThemeChoice {
  return ORDER[(ORDER.indexOf(c) + 1) % ORDER.length]!;
}

export function saveTheme(c: ThemeChoice): void {
  try {
    localStorage.setItem(THEME_KEY, c);
  } catch {
    // private mode: the choice lasts for this page only
  }
  applyTheme(c);
}

/** Follows the system's setting while the choice is "system". */
export function followSystemTheme(): void {
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    if (storedTheme() === 'system') applyTheme('system');
  });
}
