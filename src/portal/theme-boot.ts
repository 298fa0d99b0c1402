// Loaded as a classic script in <head>: applies the stored theme before the first paint (no flash of the wrong theme).
import { applyTheme, followSystemTheme, storedTheme } from './theme.ts';

applyTheme(storedTheme());
followSystemTheme();
