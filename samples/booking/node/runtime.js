#!/usr/bin/env node
// Starts the booking service of handlers.js. The SDK reads AGTP_GATEWAY_SOCKET (or
// --gateway-socket PATH), AGTP_POOL, AGTP_CONNECTIONS and AGTP_MAX_IN_FLIGHT:
//
//     AGTP_GATEWAY_SOCKET=/tmp/agtpd-booking.sock node samples/booking/node/runtime.js
'use strict';

require('./handlers.js').listen();
