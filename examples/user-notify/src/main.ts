// `npm start`: the HTTP service plus one consumer (and, in broker mode, the dead-letter logger).
import { startApp } from './app.js';
import { startDeadLetterLogger } from './consumer.js';
import { buildHttp } from './http.js';

const deps = await startApp('service');
if (deps.config.retryMode === 'broker') deps.broker.onConnect(startDeadLetterLogger(deps));
await deps.broker.start();
const http = buildHttp(deps.db, deps.broker, deps.log);
await http.listen({ port: deps.config.port, host: process.env.HOST || '0.0.0.0' });
deps.shutdown(() => http.close());
