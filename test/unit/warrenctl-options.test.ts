// warrenctl's pure parts: where the connection settings come from (flags over the URL's
// credentials over the environment over defaults), table cells, and column checks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTarget } from '../../src/cli/ctl/context.js';
import { chooseColumns, QUEUES, BINDINGS, toRows } from '../../src/cli/ctl/columns.js';
import { alignedTable, cell } from '../../src/cli/ctl/output.js';
import { CtlError } from '../../src/cli/ctl/errors.js';

describe('warrenctl options', () => {
  it('defaults to http://127.0.0.1:15672 as guest/guest', () => {
    assert.deepEqual(resolveTarget({}, {}), { url: 'http://127.0.0.1:15672', user: 'guest', password: 'guest' });
  });

  it('takes host, port and credentials from the environment, flags winning', () => {
    const env = { WARRENCTL_HOST: 'mq.internal', WARRENCTL_PORT: '8080', WARRENCTL_USER: 'ops', WARRENCTL_PASSWORD: 'pw' };
    assert.deepEqual(resolveTarget({}, env), { url: 'http://mq.internal:8080', user: 'ops', password: 'pw' });
    assert.deepEqual(resolveTarget({ port: '9000', username: 'admin', password: 'x' }, env), { url: 'http://mq.internal:9000', user: 'admin', password: 'x' });
    assert.equal(resolveTarget({ node: 'rabbit@other' }, {}).url, 'http://other:15672', 'rabbitmqctl -n rabbit@HOST');
    assert.equal(resolveTarget({ host: '::1' }, {}).url, 'http://[::1]:15672');
  });

  it('a URL carries its own credentials (decoded), over the environment but under flags; its host and port win over WARRENCTL_HOST/PORT', () => {
    const env = { WARRENCTL_URL: 'https://a%40b:p%3Ass@broker:443/', WARRENCTL_HOST: 'ignored', WARRENCTL_USER: 'ignored' };
    assert.deepEqual(resolveTarget({}, env), { url: 'https://broker', user: 'a@b', password: 'p:ss' });
    assert.deepEqual(resolveTarget({ url: 'http://h:1', username: 'me' }, env), { url: 'http://h:1', user: 'me', password: 'guest' });
  });

  it('refuses a bad URL or port as a usage error (64)', () => {
    assert.throws(() => resolveTarget({ url: 'not a url' }, {}), (e: CtlError) => e.exitCode === 64);
    assert.throws(() => resolveTarget({ port: '99999' }, {}), (e: CtlError) => e.exitCode === 64);
  });
});

describe('warrenctl output', () => {
  it('cells: scalars as they are, lists comma-joined, objects as compact JSON, missing as empty', () => {
    assert.deepEqual([cell('a'), cell(3), cell(false), cell(null), cell(undefined), cell(['x', 'y']), cell({ 'x-max-length': 5 })],
      ['a', '3', 'false', '', '', 'x,y', '{"x-max-length":5}']);
  });

  it('aligns columns two spaces apart without trailing blanks', () => {
    assert.equal(alignedTable(['a', 'b'], [['name', 'messages'], ['q', '10'], ['longer-name', '']]),
      'name         messages\nq            10\nlonger-name');
  });

  it('columns: defaults, space or comma lists, unknown ones refused with 64, API fields mapped', () => {
    assert.deepEqual(chooseColumns(QUEUES, []), ['name', 'messages']);
    assert.deepEqual(chooseColumns(QUEUES, ['name,consumers', 'durable']), ['name', 'consumers', 'durable']);
    assert.throws(() => chooseColumns(QUEUES, ['name', 'nope']), (e: CtlError) => e.exitCode === 64 && /nope/.test(e.message));
    const [row] = toRows(BINDINGS, BINDINGS.defaults, [{ source: 'x', destination: 'q', destination_type: 'queue', routing_key: 'k', arguments: {} }]);
    assert.deepEqual(row, { source_name: 'x', source_kind: 'exchange', destination_name: 'q', destination_kind: 'queue', routing_key: 'k', arguments: {} });
  });
});
