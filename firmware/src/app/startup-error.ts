// A start-up step that cannot go on: the message is for the operator (it names
// what failed and where), the fields go on the same log line.

import type { LogFields } from '../util/log.js';

export class StartupError extends Error {
  constructor(
    message: string,
    readonly fields: LogFields = {},
  ) {
    super(message);
  }
}
