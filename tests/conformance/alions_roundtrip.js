'use strict';
// Conformance test with a client none of us wrote: ali-ons (npm, pinned in package.json).
// Against a NameServer and a container with two master brokers it
//   1. sends messages of several sizes (including >= 4 KiB, which ali-ons deflates), with tags,
//      keys and user properties, spread over both brokers;
//   2. consumes every one back with a push consumer and checks body, tags, keys and properties;
//   3. waits until the group's offsets are committed, restarts a consumer of the same group and
//      checks it receives only a message sent after the restart, not the old ones again;
//   4. failure path, in its own group and topic: a handler fails the first delivery of some
//      messages (throws, or returns Consumer.ACTION_RETRY); ali-ons sends each back with
//      CONSUMER_SEND_MSG_BACK and the broker stores it in %RETRY%<group> at delay level 3. Checks each
//      comes back once, with reconsumeTimes 1, ORIGIN_MESSAGE_ID = the first delivery's msgId, the same
//      topic (RETRY_TOPIC), tag, keys, properties and body, from the same broker, no earlier than level
//      3's delay, and is not delivered again once consumed; messages that succeed come exactly once;
//   5. delayed sends (msg.delayTimeLevel = DELAY_LEVEL) to both brokers arrive intact, exactly once,
//      and no earlier than that level's delay after the send began.
// Usage: NAMESRV=127.0.0.1:port TOPIC=t RETRY_TOPIC=t2 DELAY_TOPIC=t3 DELAY_LEVELS='1s 1s 2s ...'
//        node alions_roundtrip.js   (exit 0 = pass; DELAY_LEVELS must be the brokers' messageDelayLevel)
const assert = require('assert');
const util = require('util');
const { Producer, Consumer, Message } = require('ali-ons');

const NAMESRV = process.env.NAMESRV;
const TOPIC = process.env.TOPIC || 'AliRoundTrip';
const GROUP = process.env.GROUP || 'GID_alions_roundtrip';
const N = parseInt(process.env.N || '24', 10);
const RETRY_TOPIC = process.env.RETRY_TOPIC || 'AliRetry';
const DELAY_TOPIC = process.env.DELAY_TOPIC || 'AliDelay';
// The brokers' messageDelayLevel (RocketMQ's default when not given) and the level phase 5 uses.
const DELAY_LEVELS = parseDelayLevels(process.env.DELAY_LEVELS || '1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h');
const DELAY_LEVEL = parseInt(process.env.DELAY_LEVEL || '7', 10);

let phase = 'round trip';
const deadline = setTimeout(() => { console.error(`FAIL: timeout (in phase: ${phase})`); process.exit(2); }, parseInt(process.env.TIMEOUT_MS || '180000', 10));
const httpclient = { async request(url) { throw new Error('unexpected HTTP lookup ' + url); } };
// ALIONS_LOG=1 prints ali-ons's own info/warn lines with a time stamp (to see where time goes).
const t0 = Date.now();
const trace = process.env.ALIONS_LOG ? (...a) => console.error(`+${Date.now() - t0}ms`, ...a) : () => {};
// ali-ons warns (and drops the message) when a %RETRY% message names no subscribed RETRY_TOPIC.
const noHandler = [];
const logger = {
  info: trace,
  debug() {},
  warn: (...a) => {
    trace(...a);
    if (/retry message no handler/.test(a[0])) noHandler.push(util.format(...a));
  },
  error: (...a) => console.error('[ali-ons error]', ...a),
};
// Producer and consumers share one ali-ons client (one clientId per process), made with the options
// of whichever comes first, so its timers are set here. A consumer learns the route of its
// %RETRY%<group> topic (which the broker creates at the group's first heartbeat, after the consumer's
// first route lookup) only at the next route poll: with ali-ons's default of 30 s
// (pollNameServerInteval, sic) a retry would wait up to 30 s for its queue to be pulled.
const base = { httpclient, logger, nameSrv: [ NAMESRV ], clientIP: '127.0.0.1', pollNameServerInteval: 1000 };

function bodyFor(i) {
  const sizes = [ 1, 100, 4095, 4096, 6000, 20000, 70000 ];
  const size = sizes[i % sizes.length];
  let s = '';
  for (let k = 0; s.length < size; k++) s += `msg ${i} line ${k} ünïcödé ✓\n`;
  return Buffer.from(s).subarray(0, size);
}

function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }

function parseDelayLevels(text) {
  const unit = { s: 1000, m: 60000, h: 3600000, d: 86400000 };
  return text.trim().split(/\s+/).map(level => {
    const m = /^(\d+)([smhd])$/.exec(level);
    if (!m) throw new Error(`DELAY_LEVELS: '${level}' is not a number followed by s, m, h or d`);
    return parseInt(m[1], 10) * unit[m[2]];
  });
}
function levelMs(level) {
  assert.ok(level >= 1 && level <= DELAY_LEVELS.length, `delay level ${level} is not one of the ${DELAY_LEVELS.length} configured`);
  return DELAY_LEVELS[level - 1];
}

// Polls cond every 50 ms; after ms, fails saying what it waited for and what it saw (state()).
async function waitFor(what, ms, cond, state) {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}; got ${state ? state() : 'nothing'}`);
    await sleep(50);
  }
}

// Waits until the consumer pulls a queue of topic on each of the two brokers, so that what the
// brokers make visible there reaches it at once (arrival times then measure the brokers, not the
// client's route polls and rebalances).
async function waitPulling(consumer, topic) {
  const brokers = () => new Set([ ...consumer.processQueueTable.values() ]
    .filter(v => v.messageQueue.topic === topic).map(v => v.messageQueue.brokerName));
  await waitFor(`the consumer to pull ${topic} on both brokers`, 30000, () => brokers().size >= 2,
    () => `queues on [${[ ...brokers() ]}]`);
}

function keysOf(msg) { return Array.isArray(msg.keys) ? msg.keys.join(' ') : msg.keys; }

// onError(err) returning true marks an error as expected (not printed).
function newConsumer(group = GROUP, onError) {
  const consumer = new Consumer(Object.assign({
    consumerGroup: group,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    persistConsumerOffsetInterval: 500,
    rebalanceInterval: 1000,
    pullBatchSize: 32,
  }, base));
  let errors = 0;
  consumer.on('error', err => {
    if (onError && onError(err)) return;
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

  let phaseStart = Date.now();
  phase = 'failure path';
  await retryPhase(producer);
  console.log(`  (failure path phase took ${Date.now() - phaseStart} ms)`);
  phaseStart = Date.now();
  phase = 'delayed sends';
  await delayPhase(producer);
  console.log(`  (delayed send phase took ${Date.now() - phaseStart} ms)`);
  await producer.close();
  clearTimeout(deadline);
  console.log(`PASS in ${Date.now() - t0} ms`);
  process.exit(0);
}

// Phase 4: the failure path. A handler fails the first delivery of some messages (an exception,
// or ali-ons's Consumer.ACTION_RETRY); ali-ons then sends each back (CONSUMER_SEND_MSG_BACK to the
// broker it pulled it from; only if that fails does it re-send the message to %RETRY%<group>
// itself, with a RECONSUME_TIME property and no delay). The broker stores the copy in
// %RETRY%<group> at delay level 3 (reconsumeTimes 0 + 3); ali-ons's subscription of that topic
// hands it to the same handler with msg.topic = RETRY_TOPIC, which then succeeds.
async function retryPhase(producer) {
  const group = GROUP + '_retry';
  const retryDelay = levelMs(3);
  const cases = new Map();  // case id -> { mode, tag, keys, body, msgId, brokerName, deliveries: [{ at, msg }] }
  const strays = [];
  const errors = [];  // consumer errors other than the deliberate failures
  const t = Date.now();
  const consumer = newConsumer(group, err => {
    if (/deliberate failure/.test(err && err.message)) return true;
    errors.push(`${err && err.name}: ${err && err.message}`);
    return false;
  });
  consumer.subscribe(RETRY_TOPIC, '*', async msg => {
    const c = cases.get(msg.properties.case);
    if (!c) { strays.push(`${msg.topic} ${msg.msgId} case=${msg.properties.case}`); return; }
    c.deliveries.push({ at: Date.now(), msg });
    if (c.mode !== 'ok' && c.deliveries.length === 1) {
      if (c.mode === 'retry') return Consumer.ACTION_RETRY;
      throw new Error(`deliberate failure of ${msg.properties.case}`);
    }
  });
  await consumer.ready();
  await waitPulling(consumer, RETRY_TOPIC);
  await waitPulling(consumer, `%RETRY%${group}`);

  // Six messages (throw, ACTION_RETRY, ok, ...), then more failing ones until a failing message
  // went to each broker. Bodies of 4096 bytes and more are sent deflated (sysFlag 1).
  const modes = [ 'throw', 'retry', 'ok', 'throw', 'retry', 'ok' ];
  const failBrokers = new Set();
  for (let i = 0; i < 16 && (i < modes.length || failBrokers.size < 2); i++) {
    const mode = modes[i] || 'throw';
    const id = `retry-${i}`;
    const tag = mode === 'ok' ? 'Fine' : 'FailOnce';
    const body = bodyFor(i + 3);
    const msg = new Message(RETRY_TOPIC, tag, body);
    msg.keys = [ `rkey-${i}`, `ralt-${i}` ];
    msg.properties.case = id;
    msg.properties.greeting = 'こんにちは';
    // Known before the send: the consumer may get the message before send() returns.
    const c = { mode, tag, keys: `rkey-${i} ralt-${i}`, body, msgId: null, brokerName: null, deliveries: [] };
    cases.set(id, c);
    const r = await producer.send(msg);
    assert.strictEqual(r.sendStatus, 'SEND_OK', `send ${id}: expected SEND_OK, got ${r.sendStatus}`);
    if (mode !== 'ok') failBrokers.add(r.messageQueue.brokerName);
    c.msgId = r.msgId;
    c.brokerName = r.messageQueue.brokerName;
  }
  assert.ok(failBrokers.size >= 2, `expected failing messages on both brokers, got only ${[ ...failBrokers ]}`);

  const wanted = c => (c.mode === 'ok' ? 1 : 2);
  const state = () => [ ...cases ].map(([ id, c ]) =>
    `${id}(${c.mode}@${c.brokerName}): ${c.deliveries.length}/${wanted(c)} deliveries, reconsumeTimes [${c.deliveries.map(d => d.msg.reconsumeTimes)}]`).join('; ') +
    (strays.length ? `; strays: ${strays.join(', ')}` : '') +
    (errors.length ? `; consumer errors: ${errors.slice(-5).join(' | ')}` : '') +
    (noHandler.length ? `; ali-ons: ${noHandler.slice(-3).join(' | ')}` : '');
  await waitFor('every failed message to come back once and every other to arrive', 60000,
    () => [ ...cases.values() ].every(c => c.deliveries.length >= wanted(c)), state);
  const settled = Date.now();
  // Nothing more may come: not the consumed retries again (their next level would be 4), not the
  // originals.
  await sleep(3000 + levelMs(4));
  await consumer.close();

  const waits = [];
  for (const [ id, c ] of cases) {
    assert.strictEqual(c.deliveries.length, wanted(c), `${id} (${c.mode}, ${c.brokerName}): expected ${wanted(c)} deliveries, got ${c.deliveries.length}; ${state()}`);
    const first = c.deliveries[0].msg;
    assert.strictEqual(first.reconsumeTimes, 0, `${id}: first delivery: expected reconsumeTimes 0, got ${first.reconsumeTimes}`);
    assert.strictEqual(first.msgId, c.msgId, `${id}: first delivery: expected the send result's msgId ${c.msgId}, got ${first.msgId}`);
    if (c.mode === 'ok') continue;
    const again = c.deliveries[1].msg;
    const what = `${id} (${c.mode === 'retry' ? 'ACTION_RETRY' : 'threw'}, ${c.brokerName}) sent back`;
    assert.strictEqual(again.properties.RECONSUME_TIME, undefined,
      `${what}: expected the broker to store the retry (CONSUMER_SEND_MSG_BACK), got ali-ons's own re-send (RECONSUME_TIME=${again.properties.RECONSUME_TIME}); consumer errors: ${errors.slice(-5).join(' | ') || 'none'}`);
    assert.strictEqual(again.reconsumeTimes, 1, `${what}: expected reconsumeTimes 1, got ${again.reconsumeTimes}`);
    assert.strictEqual(again.originMessageId, first.msgId, `${what}: expected ORIGIN_MESSAGE_ID ${first.msgId}, got ${again.originMessageId}`);
    assert.strictEqual(again.topic, RETRY_TOPIC, `${what}: expected topic ${RETRY_TOPIC} (from RETRY_TOPIC), got ${again.topic}`);
    assert.strictEqual(again.storeHost, first.storeHost, `${what}: expected to be stored by the broker it came from (${first.storeHost}), got ${again.storeHost}`);
    assert.strictEqual(again.tags, c.tag, `${what}: expected tag ${c.tag}, got ${again.tags}`);
    assert.strictEqual(keysOf(again), c.keys, `${what}: expected keys '${c.keys}', got '${keysOf(again)}'`);
    assert.strictEqual(again.properties.greeting, 'こんにちは', `${what}: expected property greeting=こんにちは, got ${again.properties.greeting}`);
    assert.ok(Buffer.compare(again.body, c.body) === 0,
      `${what}: expected the ${c.body.length}-byte body, got ${again.body ? again.body.length : 'no'} bytes${again.body && again.body.length === c.body.length ? ' that differ' : ''}`);
    const waited = c.deliveries[1].at - c.deliveries[0].at;
    assert.ok(waited >= retryDelay, `${what}: expected back no earlier than ${retryDelay} ms (delay level 3) after the failure, got ${waited} ms`);
    waits.push(waited);
  }
  assert.strictEqual(strays.length, 0, `expected no other messages in ${group}, got ${strays.join(', ')}`);
  const failed = [ ...cases.values() ].filter(c => c.mode !== 'ok');
  console.log(`failure path: ${failed.length} messages failed once (${failed.filter(c => c.mode === 'throw').length} threw, ` +
    `${failed.filter(c => c.mode === 'retry').length} ACTION_RETRY) on ${[ ...failBrokers ].sort().join(',')}, each came back ` +
    `once with reconsumeTimes 1 after ${Math.min(...waits)}..${Math.max(...waits)} ms (level 3 = ${retryDelay} ms), ` +
    `${cases.size - failed.length} others once; all settled ${settled - t} ms after the consumer started`);
}

// Phase 5: delayed sends. The consumer is pulling first (from both brokers, and an undelayed
// warm-up message came), then messages with delayTimeLevel = DELAY_LEVEL go to each broker; each
// must arrive intact, once, and no earlier than the level's delay after its send began (the broker
// counts from the store time).
async function delayPhase(producer) {
  const delayMs = levelMs(DELAY_LEVEL);
  const arrivals = new Map();  // case id -> [{ at, msg }]
  const consumer = newConsumer(GROUP + '_delay');
  consumer.subscribe(DELAY_TOPIC, '*', async msg => {
    const id = msg.properties.case;
    if (!arrivals.has(id)) arrivals.set(id, []);
    arrivals.get(id).push({ at: Date.now(), msg });
  });
  await consumer.ready();
  await waitPulling(consumer, DELAY_TOPIC);
  const warm = new Message(DELAY_TOPIC, 'Now', Buffer.from('warm-up'));
  warm.properties.case = 'warm';
  const w = await producer.send(warm);
  assert.strictEqual(w.sendStatus, 'SEND_OK', `send warm-up: expected SEND_OK, got ${w.sendStatus}`);
  await waitFor('the undelayed warm-up message', 30000, () => arrivals.has('warm'), () => 'nothing');

  const sent = new Map();
  const brokers = new Set();
  for (let i = 0; i < 16 && (brokers.size < 2 || sent.size < 2); i++) {
    const id = `delayed-${i}`;
    const body = bodyFor(i + 2);
    const msg = new Message(DELAY_TOPIC, 'Later', body);
    msg.keys = [ `dkey-${i}` ];
    msg.properties.case = id;
    msg.delayTimeLevel = DELAY_LEVEL;
    const s = { at: Date.now(), body, key: `dkey-${i}`, brokerName: null };
    sent.set(id, s);
    const r = await producer.send(msg);
    assert.strictEqual(r.sendStatus, 'SEND_OK', `send ${id}: expected SEND_OK, got ${r.sendStatus}`);
    brokers.add(r.messageQueue.brokerName);
    s.brokerName = r.messageQueue.brokerName;
  }
  assert.ok(brokers.size >= 2, `expected delayed messages on both brokers, got only ${[ ...brokers ]}`);
  const state = () => [ ...sent ].map(([ id, s ]) => {
    const a = arrivals.get(id) || [];
    return `${id}@${s.brokerName}: ${a.length ? a.map(x => `${x.at - s.at} ms`).join(',') : 'not arrived'}`;
  }).join('; ');
  await waitFor(`${sent.size} messages delayed by level ${DELAY_LEVEL} (${delayMs} ms)`, delayMs + 45000,
    () => [ ...sent.keys() ].every(id => arrivals.has(id)), state);
  await sleep(2000);
  await consumer.close();

  const delays = [];
  for (const [ id, s ] of sent) {
    const a = arrivals.get(id);
    const what = `${id} (level ${DELAY_LEVEL}, ${s.brokerName})`;
    assert.strictEqual(a.length, 1, `${what}: expected 1 delivery, got ${a.length}`);
    const { at, msg } = a[0];
    const delay = at - s.at;
    assert.ok(delay >= delayMs, `${what}: expected no earlier than ${delayMs} ms after the send, got ${delay} ms`);
    assert.strictEqual(msg.topic, DELAY_TOPIC, `${what}: expected topic ${DELAY_TOPIC}, got ${msg.topic}`);
    assert.strictEqual(msg.tags, 'Later', `${what}: expected tag Later, got ${msg.tags}`);
    assert.strictEqual(keysOf(msg), s.key, `${what}: expected keys '${s.key}', got '${keysOf(msg)}'`);
    assert.strictEqual(msg.reconsumeTimes, 0, `${what}: expected reconsumeTimes 0, got ${msg.reconsumeTimes}`);
    assert.ok(Buffer.compare(msg.body, s.body) === 0, `${what}: expected the ${s.body.length}-byte body, got ${msg.body ? msg.body.length : 'no'} bytes`);
    delays.push(delay);
  }
  assert.strictEqual(arrivals.get('warm').length, 1, `warm-up: expected 1 delivery, got ${arrivals.get('warm').length}`);
  const strays = [ ...arrivals.keys() ].filter(id => id !== 'warm' && !sent.has(id));
  assert.strictEqual(strays.length, 0, `expected no other messages in ${DELAY_TOPIC}, got ${strays.join(', ')}`);
  console.log(`delayed sends: ${sent.size} messages at level ${DELAY_LEVEL} (${delayMs} ms) on ${[ ...brokers ].sort().join(',')} ` +
    `arrived once each, ${Math.min(...delays)}..${Math.max(...delays)} ms after the send`);
}

main().catch(err => { console.error('FAIL:', err && err.stack || err); process.exit(1); });
