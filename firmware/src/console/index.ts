// The serial management console: what app/app.ts imports to run it.
export { Console, type ConsoleOptions, type ConsoleCounters } from './console.js';
export type { ConsoleHost, NetworkChange, NetworkSettings, PowerAction } from './host.js';
export { SerialTransport, openNativePort, type SerialTransportOptions } from './serial.js';
export { Shell, DEFAULT_IDLE_MS, DEFAULT_LOCKOUT, realConsoleTimers, type ConsoleTimers, type LockoutPolicy, type ShellOptions } from './shell.js';
export { LineEditor, type EditorEvent, type LineEditorOptions } from './line-editor.js';
