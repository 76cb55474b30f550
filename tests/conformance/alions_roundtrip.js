'use strict';
// Conformance test with a client none of us wrote: ali-ons (npm, pinned in package.json).
// Against a NameServer and a container with two master brokers it
//   1. sends messages of several sizes (including >= 4 KiB, which ali-ons deflates), with tags,
//      keys and user properties, spread over both brokers;
//   2. consumes every one back with a push consumer and checks body, tags, keys and properties;
//   3. waits until the group's offsets are committed, restarts a consumer of the same group and
//      checks it receives only a message sent after the restart, not the old ones again.
// Usage: NAMESRV=127.0.0.1:port TOPIC=t node alions_roundtrip.js   (exit 0 = pass)
const assert = require('assert');
const { Producer, Consumer, Message } = require('ali-ons');

const NAMESRV = process.env.NAMESRV;
const TOPIC = process.env.TOPIC || 'AliRoundTrip';
const GROUP = process.env.GROUP || 'GID_alions_roundtrip';
const N = parseInt(process.env.N || '24', 10);

const deadline = setTimeout(() => { console.error('FAIL: timeout'); process.exit(2); }, parseInt(process.env.TIMEOUT_MS || '120000', 10));
const httpclient = { async request(url) { throw new Error('unexpected HTTP lookup ' + url); } };
// ALIONS_LOG=1 prints ali-ons's own info/warn lines with a time stamp (to see where time goes).
const t0 = Date.now();
const trace = process.env.ALIONS_LOG ? (...a) => console.error(`+${Date.now() - t0}ms`, ...a) : () => {};
const logger = { info: trace, debug() {}, warn: trace, error: (...a) => console.error('[ali-ons error]', ...a) };
const base = { httpclient, logger, nameSrv: [ NAMESRV ], clientIP: '127.0.0.1' };

function bodyFor(i) {
  const sizes = [ 1, 100, 4095, 4096, 6000, 20000, 70000 ];
  const size = sizes[i % sizes.length];
  let s = '';
  for (let k = 0; s.length < size; k++) s += `msg ${i} line ${k} ünïcödé ✓\n`;
  return Buffer.from(s).subarray(0, size);
}

function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }

function newConsumer() {
  const consumer = new Consumer(Object.assign({
    consumerGroup: GROUP,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    persistConsumerOffsetInterval: 500,
    rebalanceInterval: 1000,
    pullBatchSize: 32,
  }, base));
  let errors = 0;
  consumer.on('error', err => {
    // ali-ons reports route lookups of %RETRY% topics before the first heartbeat created them.
    if (++errors <= 5) console.error('[consumer error]', err && err.name, err && err.message);
  });
  return consumer;
}

async function main() {
  const producer = new Producer(Object.assign({ producerGroup: 'PID_alions_roundtrip', sendMsgTimeout: 5000 }, base));
  await producer.ready();
  const sent = new Map();  // msgId -> expectation
  const brokers = new Set();
  for (let i = 0; i < N; i++) {
    const tag = i % 3 === 0 ? 'TagA' : (i % 3 === 1 ? 'TagB' : 'TagC');
    const msg = new Message(TOPIC, tag, bodyFor(i));
    msg.keys = [ `key-${i}`, `alt-${i}` ];
    msg.properties.index = String(i);
    msg.properties.greeting = 'こんにちは';
    const r = await producer.send(msg);
    assert.strictEqual(r.sendStatus, 'SEND_OK', `send ${i}: ${r.sendStatus}`);
    brokers.add(r.messageQueue.brokerName);
    sent.set(String(i), { tag, body: bodyFor(i), keys: `key-${i} alt-${i}` });
  }
  assert.ok(brokers.size >= 2, `messages reached only ${[ ...brokers ]}`);
  console.log(`sent ${N} messages over brokers ${[ ...brokers ].join(',')}`);

  // Phase 2: consume everything back.
  const received = new Map();
  let consumer = newConsumer();
  let failure = null;
  consumer.subscribe(TOPIC, '*', async msg => {
    try {
      check(msg);
    } catch (e) {
      failure = failure || e;
    }
  });
  function check(msg) {
    const idx = msg.properties.index;
    const exp = sent.get(idx);
    assert.ok(exp, `unexpected message index ${idx}`);
    assert.strictEqual(msg.tags, exp.tag, `tags of ${idx}`);
    const keys = Array.isArray(msg.keys) ? msg.keys.join(' ') : msg.keys;
    assert.strictEqual(keys, exp.keys, `keys of ${idx}`);
    assert.strictEqual(msg.properties.greeting, 'こんにちは', `property of ${idx}`);
    assert.ok(Buffer.compare(msg.body, exp.body) === 0, `body of ${idx} (${msg.body.length} vs ${exp.body.length} bytes)`);
    received.set(idx, (received.get(idx) || 0) + 1);
  }
  await consumer.ready();
  while (received.size < N && !failure) await sleep(100);
  if (failure) throw failure;
  console.log(`received all ${N} messages intact`);
  // Let the consumer commit its offsets (every 500 ms), then close it (which commits again).
  await sleep(2500);
  await consumer.close();

  // Phase 3: a new consumer of the same group must not see the old messages again.
  let late = 0, old = 0;
  consumer = newConsumer();
  consumer.subscribe(TOPIC, '*', async msg => {
    if (msg.properties.index === 'late') late++;
    else old++;
  });
  await consumer.ready();
  await sleep(3000);
  const last = new Message(TOPIC, 'TagA', Buffer.from('after restart'));
  last.properties.index = 'late';
  const r = await producer.send(last);
  assert.strictEqual(r.sendStatus, 'SEND_OK');
  for (let i = 0; i < 100 && late === 0; i++) await sleep(100);
  assert.strictEqual(late, 1, 'the message sent after the restart was not received');
  assert.strictEqual(old, 0, `${old} already-consumed messages were delivered again`);
  console.log('committed offsets held: only the new message was delivered to the restarted group');
  await consumer.close();
  await producer.close();
  clearTimeout(deadline);
  console.log('PASS');
  process.exit(0);
}

main().catch(err => { console.error('FAIL:', err && err.stack || err); process.exit(1); });
