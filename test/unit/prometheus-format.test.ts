// The message-size histogram's bucket edges (sizes equal to a bound fall in that bucket, as
// rabbit_msg_size_metrics), and the strict exposition reader the metrics tests rely on: it must
// reject what Prometheus would reject, or those tests could not fail.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MESSAGE_SIZE_BOUNDS, MessageSizes } from '../../src/server/stats.js';
import { SIZE_BUCKET_LABELS } from '../../src/http/metrics/globals.js';
import { labelText } from '../../src/http/metrics/object-stream.js';
import { parseExposition, valueOf } from '../helpers/exposition.js';

describe('message size histogram', () => {
  test('a size equal to a bound counts in that bucket, one above it in the next', () => {
    const h = new MessageSizes();
    for (const b of MESSAGE_SIZE_BOUNDS) {
      h.observe(b);
      h.observe(b + 1);
    }
    h.observe(0);
    assert.deepEqual([...h.counts], [2, 2, 2, 2, 2, 2, 2, 2, 1]);
    assert.equal(h.sum, MESSAGE_SIZE_BOUNDS.reduce((a, b) => a + 2 * b + 1, 0));
  });

  test('the le strings are the bounds as Erlang prints them', () => {
    assert.deepEqual(SIZE_BUCKET_LABELS.slice(0, -1).map(Number), MESSAGE_SIZE_BOUNDS);
    assert.equal(SIZE_BUCKET_LABELS.at(-1), '+Inf');
  });
});

describe('exposition reader', () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 2\nh_count 1\n';

  test('reads families, labels and values', () => {
    const m = parseExposition(ok);
    assert.equal(m.get('a_total')?.help, 'A.');
    assert.equal(valueOf(m, 'a_total', { x: '1' }), 3);
    assert.equal(valueOf(m, 'h_count'), 1);
  });

  test('rejects samples without a TYPE, repeated TYPEs and series, split families, bad labels', () => {
    assert.throws(() => parseExposition('b 1\n'), /undeclared family/);
    assert.throws(() => parseExposition('b 1\n# TYPE b gauge\n'), /undeclared family/);
    assert.throws(() => parseExposition('# TYPE b gauge\n# TYPE b gauge\nb 1\n'), /second TYPE/);
    assert.throws(() => parseExposition('# TYPE b gauge\nb 1\nb 2\n'), /repeated/);
    assert.throws(() => parseExposition('# TYPE b gauge\n# TYPE c gauge\nb{x="1"} 1\nc 1\nb{x="2"} 1\n'), /not contiguous/);
    assert.throws(() => parseExposition('# TYPE b gauge\nb{x=1} 1\n'), /not quoted/);
    assert.throws(() => parseExposition('# TYPE b gauge\nb{x="1",x="2"} 1\n'), /repeated/);
    assert.throws(() => parseExposition('# TYPE b gauge\nb one\n'), /bad sample value/);
    assert.throws(() => parseExposition('# TYPE b gauge\nb_bucket 1\n'), /undeclared family/);
  });

  test('label values are escaped so they read back as written', () => {
    const labels = { queue: 'a"b\\c\nd', vhost: '/' };
    const m = parseExposition(`# TYPE q gauge\nq${labelText(labels)} 1\n`);
    assert.equal(valueOf(m, 'q', labels), 1);
  });
});
