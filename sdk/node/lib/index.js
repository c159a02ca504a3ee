'use strict';

const { Runtime, Server } = require('./runtime');
const { Reply } = require('./reply');
const { Context } = require('./context');
const { EndpointError, SigningError, ConfigError } = require('./errors');
const { PROTOCOL_VERSION } = require('./frames');

module.exports = { Runtime, Server, Reply, Context, EndpointError, SigningError, ConfigError, PROTOCOL_VERSION };
