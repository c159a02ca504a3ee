// The ES module face of lib/testing.js.
import testing from './testing.js';

export const { TestDaemon } = testing;
