// What a power channel reports about a node.

export type PowerState = 'on' | 'off' | 'unknown';
