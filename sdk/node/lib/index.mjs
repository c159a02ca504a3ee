// The ES module face of the CommonJS implementation: one copy of every class, whichever
// way the package is loaded.
import sdk from './index.js';

export const { Runtime, Server, Reply, Context, EndpointError, SigningError, ConfigError, PROTOCOL_VERSION } = sdk;
