// `npm run worker`: one more consumer process; start as many as you like.
import { startApp } from './app.js';

const deps = await startApp('worker');
await deps.broker.start();
deps.shutdown();
