'use strict';

// The default logger: one line per event on stderr, which agtpd's supervisor collects.
function stderrLogger(name) {
  const write = (level) => (message) => {
    process.stderr.write(`${new Date().toISOString()} ${name}[${process.pid}] ${level}: ${message}\n`);
  };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

// `logger` (anything with info, warn and error methods, such as `console`), wrapped so
// that a logger that throws cannot break a connection.
function checkLogger(logger) {
  const safe = {};
  for (const level of ['info', 'warn', 'error']) {
    if (typeof logger?.[level] !== 'function') {
      throw new TypeError(`the logger must have an \`${level}(message)\` method`);
    }
    safe[level] = (message) => {
      try {
        logger[level](message);
      } catch {
        // Nowhere else to report it.
      }
    };
  }
  return safe;
}

module.exports = { stderrLogger, checkLogger };
