#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets (tests/fuzz/fuzz_*.cc), one folder per target,
cut from the reference fixtures (../shared/fixtures: wire captures, the Java 4.9.4 stores and the
DLedger group) and the config files in conf/, plus the controller-mode examples of
../shared/reference/rocketmq-controller.md (bodies 3.3, log entries 4.2, the epoch file 6.6) and
request sequences built from them. Nothing here is copied into the repository; the fuzz
build runs this script (tests/fuzz/CMakeLists.txt).

    make_seeds.py --fixtures DIR --conf DIR --out DIR
"""
import argparse, base64, glob, json, os, struct, zlib

ap = argparse.ArgumentParser()
ap.add_argument('--fixtures', required=True)
ap.add_argument('--conf', required=True)
ap.add_argument('--out', required=True)
args = ap.parse_args()
FIX = args.fixtures
counts = {}


# Targets whose byte 0 picks one reader (selector = byte 0 % n): a seed is written once per reader
# of its kind, by default the readers listed here (fuzz_json's general bodies and files 0-11,
# fuzz_config's config files 0-8); the controller-mode seeds name their own readers.
SELECTORS = {'fuzz_json': range(12), 'fuzz_config': range(9)}


def seed(target, name, data, selectors=None):
    d = os.path.join(args.out, target)
    os.makedirs(d, exist_ok=True)
    sels = selectors if selectors is not None else SELECTORS.get(target)
    for sel in (sels if sels else [None]):
        path = os.path.join(d, name if sel is None else '%s.s%d' % (name, sel))
        with open(path, 'wb') as f:
            f.write(data if sel is None else bytes([sel]) + data)
        counts[target] = counts.get(target, 0) + 1


def section(kind, data):
    return struct.pack('>BI', kind, len(data)) + data


def read(path):
    with open(path, 'rb') as f:
        return f.read()


# ---- wire captures: frames, headers, bodies ----------------------------------------------------
LANG = {'JAVA': 0, 'CPP': 1, 'DOTNET': 2, 'PYTHON': 3, 'DELPHI': 4, 'ERLANG': 5, 'RUBY': 6, 'OTHER': 7,
        'HTTP': 8, 'GO': 9, 'PHP': 10, 'OMS': 11}


def binary_header(h):
    out = struct.pack('>hbhii', h.get('code', 0), LANG.get(h.get('language', 'JAVA'), 0), h.get('version', 0),
                      h.get('opaque', 0), h.get('flag', 0))
    remark = h.get('remark')
    if remark:
        r = remark.encode()
        out += struct.pack('>i', len(r)) + r
    else:
        out += struct.pack('>i', 0)
    ext = b''
    for k, v in (h.get('extFields') or {}).items():
        kb, vb = k.encode(), str(v).encode()
        ext += struct.pack('>h', len(kb)) + kb + struct.pack('>i', len(vb)) + vb
    return out + struct.pack('>i', len(ext)) + ext


def frame(header, body, serialize_type=0):
    return struct.pack('>ii', 4 + len(header) + len(body), (serialize_type << 24) | len(header)) + header + body


frames = []  # (conversation file, conn+dir, header dict, header bytes, body)
for path in sorted(glob.glob(os.path.join(FIX, 'wire', '*.jsonl'))):
    for line in open(path, encoding='utf-8'):
        r = json.loads(line)
        hb = r['header'].encode()
        body = base64.b64decode(r['body_b64']) if not r.get('body_truncated') else b''
        frames.append((os.path.basename(path), r['conn'] + r['dir'], json.loads(r['header']), hb, body))

streams = {}
for i, (fname, key, h, hb, body) in enumerate(frames):
    f = frame(hb, body)
    if len(f) <= 16384:
        seed('fuzz_frame', 'frame%03d' % i, b'\xff' + f)
    if i % 3 == 0:
        try:
            bh = binary_header(h)
            seed('fuzz_frame', 'binframe%03d' % i, b'\x10' + frame(bh, body[:2048], 1))
        except struct.error:
            pass
    s = streams.setdefault(fname + key, b'')
    if len(s) + len(f) <= 16384:
        streams[fname + key] = s + f
    if body:
        if body[:1] in (b'{', b'['):
            seed('fuzz_json', 'body%03d' % i, body)
        elif h.get('code') in (103,) and (h.get('extFields') or {}).get('compressed') == 'true':
            seed('fuzz_json', 'zbody%03d' % i, body)
        if h.get('code') in (310, 320, 10):
            seed('fuzz_message', 'sendbody%03d' % i, body)
        if h.get('code') == 0 and body[:4] != b'' and len(body) >= 92 and body[4:8] in (b'\xda\xa3\x20\xa7', b'\xda\xa3\x20\xab'):
            seed('fuzz_message', 'pullbody%03d' % i, body[:16384])
for n, (k, s) in enumerate(sorted(streams.items())):
    seed('fuzz_frame', 'stream%02d' % n, bytes([n * 37 % 256]) + s)

# ---- message records from the stores ----------------------------------------------------------
def records(buf):
    pos = 0
    while pos + 8 <= len(buf):
        size, magic = struct.unpack_from('>iI', buf, pos)
        if magic not in (0xDAA320A7, 0xDAA320AB) or size <= 0 or pos + size > len(buf):
            return
        yield pos, buf[pos:pos + size]
        pos += size


cl0 = read(os.path.join(FIX, 'java494-store', 'commitlog', '00000000000000000000'))
recs = list(records(cl0))
for n, (pos, rec) in enumerate(recs[:60]):
    seed('fuzz_message', 'record%02d' % n, rec)
    if n < 20:
        # the properties string and the offset msg id of the record
        body_len = struct.unpack_from('>i', rec, 84)[0]
        tl = rec[88 + body_len]
        plen_at = 88 + body_len + 1 + tl
        plen = struct.unpack_from('>h', rec, plen_at)[0]
        seed('fuzz_message', 'props%02d' % n, rec[plen_at + 2:plen_at + 2 + plen])
        seed('fuzz_message', 'msgid%02d' % n, (bytes([127, 0, 0, 1]) + struct.pack('>iq', 10911, pos)).hex().upper().encode())
seed('fuzz_message', 'pull0', b''.join(r for _, r in recs[:8]))
seed('fuzz_message', 'blank', struct.pack('>iI', 1024, 0xCBD43194))

# ---- JSON files of the stores and the namesrv --------------------------------------------------
for store in ('java494-store', 'java494-store-killed', 'java494-dledger/n0'):
    for p in sorted(glob.glob(os.path.join(FIX, store, 'config', '*.json'))):
        seed('fuzz_json', store.replace('/', '_') + '_' + os.path.basename(p), read(p))
seed('fuzz_json', 'kvconfig', b'{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"broker-a:4"}}}')
seed('fuzz_json', 'heartbeat', json.dumps({"clientID": "127.0.0.1@1", "producerDataSet": [{"groupName": "P"}],
                                           "consumerDataSet": [{"groupName": "G", "consumeType": "CONSUME_PASSIVELY",
                                                                "messageModel": "CLUSTERING",
                                                                "subscriptionDataSet": [{"topic": "T", "subString": "A || B",
                                                                                         "tagsSet": ["A", "B"], "codeSet": [65, 66],
                                                                                         "subVersion": 1}]}]}).encode())
seed('fuzz_json', 'fastjson_keys', b'{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},'
                                   b'"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:5}}')

# ---- HA transfer streams -----------------------------------------------------------------------
def transfer(offset, body):
    return struct.pack('>qi', offset, len(body)) + body


SEG = 16384  # the targets' largest CommitLog segment (fuzz_ha, fuzz_store_recovery)


def resegment(recs, seg, limit):
    # The fixture's records laid out again in segments of `seg` bytes, as a broker with that segment
    # size writes them: physical offsets rewritten, a BLANK (size, magic 0xCBD43194) filling each
    # segment's end. Returns the bytes (at most `limit`) and {old offset: new offset}.
    out, moved = b'', {}
    for old, rec in recs:
        room = seg - len(out) % seg
        if len(rec) + 8 > room:
            if len(out) + room > limit:
                break
            out += struct.pack('>iI', room, 0xCBD43194) + b'\0' * (room - 8)
        if len(out) + len(rec) > limit:
            break
        moved[old] = len(out)
        out += rec[:28] + struct.pack('>q', len(out)) + rec[36:]
    return out, moved


cl16, _ = resegment(recs, SEG, 18000)
ha = transfer(0, b'')
for off in range(0, len(cl16), 4096):
    ha += transfer(off, cl16[off:off + 4096])
# byte 0 % 3 == 0: the classic stream, byte 0 / 3 the chunk size
seed('fuzz_ha', 'stream16k', b'\x0f\x04' + ha)
seed('fuzz_ha', 'heartbeats', b'\x00\x04' + transfer(0, b'') + transfer(0, b''))
end = recs[10][0] if len(recs) > 10 else 0
seed('fuzz_ha', 'records10', b'\x03\x04' + transfer(0, cl0[:end]) + transfer(end, b''))

# AutoSwitch HA (byte 0: 1 slave -> master, 2 master -> slave; byte 1: chunk size, bit 0 small bodies)
def as_handshake(sync_last, learner, broker_id):
    return struct.pack('>ihhq', 1, sync_last, learner, broker_id)


def as_report(offset):
    return struct.pack('>iq', 2, offset)


def as_reply(max_offset, last_epoch, entries):
    return struct.pack('>iiqi', 1, 12 * len(entries), max_offset, last_epoch) + \
        b''.join(struct.pack('>iq', e, o) for e, o in entries)


def as_transfer(offset, epoch, epoch_start, confirm, body):
    return struct.pack('>iiqiqq', 2, len(body), offset, epoch, epoch_start, confirm) + body


seed('fuzz_ha', 'as_slave', b'\x01\x10' + as_handshake(0, 0, 2) + as_report(0) + as_report(4096) + as_report(8192))
seed('fuzz_ha', 'as_slave_learner', b'\x01\x01' + as_handshake(1, 1, 3) + as_report(0))
first = b''.join(r for _, r in recs[:4])
seed('fuzz_ha', 'as_master', b'\x02\x20' + as_reply(len(first), 2, [(1, 0), (2, len(first) // 2)]) +
     as_transfer(0, 1, 0, -1, first[:len(first) // 2]) + as_transfer(len(first) // 2, 2, len(first) // 2, 0,
                                                                      first[len(first) // 2:]) +
     as_transfer(len(first), 2, len(first) // 2, len(first), b''))
seed('fuzz_ha', 'as_master_empty', b'\x02\x03' + as_reply(0, -1, []) + as_transfer(0, 1, 0, -1, b''))

# ---- Raft messages and DLedger entries ----------------------------------------------------------
def dledger_entries(buf):
    pos = 0
    while pos + 48 <= len(buf):
        magic, size = struct.unpack_from('>ii', buf, pos)
        if magic != 1 or size < 48 or pos + size > len(buf):
            return
        yield pos, buf[pos:pos + size]
        pos += size


def wire_entry(index, term, body, channel=0):
    # raft index -> DLedger index - 1, pos -1, chainCrc 0, bodyCrc filled
    return struct.pack('>iiqqqiIIi', 1, 48 + len(body), index - 1, term, -1, channel, 0,
                       zlib.crc32(body) & 0xffffffff, len(body)) + body


def raft_msg(mtype, group=b'g', frm=0, to=1, term=2, index=0, log_term=0, commit=0, push_type=0, flags=0,
             reject_hint=0, hint_term=0, entries=()):
    out = struct.pack('>BBBBH', 1, mtype, push_type, flags, len(group)) + group
    out += struct.pack('>IIqqqqqq', frm, to, term, index, log_term, commit, reject_hint, hint_term)
    out += struct.pack('>I', len(entries)) + b''.join(entries)
    return out


def membership(voters, learners=(), addresses=None):
    out = struct.pack('>BI', 2 if addresses else 1, len(voters)) + b''.join(struct.pack('>I', v) for v in voters)
    out += struct.pack('>I', len(learners)) + b''.join(struct.pack('>I', v) for v in learners)
    if addresses:
        out += struct.pack('>I', len(addresses))
        for nid, a in sorted(addresses.items()):
            out += struct.pack('>IH', nid, len(a)) + a
    return out


n0 = os.path.join(FIX, 'java494-dledger', 'n0', 'dledger-n0')
d0 = read(os.path.join(n0, 'data', '00000000000000000000'))
dl = list(dledger_entries(d0))
for n, (pos, e) in enumerate(dl[:10]):
    seed('fuzz_raft', 'dledger_entry%02d' % n, b'\x00' + e)
bodies = [e[48:] for _, e in dl[:6]] or [b'x']
mem = membership([0, 1, 2], [3], {0: b'127.0.0.1:40911', 1: b'127.0.0.1:40912'})
msgs = {
    'vote': section(3, raft_msg(3, frm=0, term=3, index=3, log_term=2)),
    'prevote': section(1, raft_msg(1, frm=2, term=3, index=3, log_term=2)),
    'heartbeat': section(5, raft_msg(5, frm=0, term=2, commit=3)),
    'append': section(7, raft_msg(7, frm=0, term=2, index=3, log_term=2, commit=3,
                                  entries=[wire_entry(4 + i, 2, b) for i, b in enumerate(bodies)])),
    'truncate': section(7, raft_msg(7, frm=0, term=3, push_type=3, index=2, log_term=1, commit=2,
                                    entries=[wire_entry(3, 3, b'x'), wire_entry(4, 3, mem, 1)])),
    'compare': section(7, raft_msg(7, frm=0, term=2, push_type=2, index=3, log_term=2)),
    'commit': section(7, raft_msg(7, frm=0, term=2, push_type=1, commit=3)),
    'push_response': section(8, raft_msg(8, frm=2, term=2, index=3, flags=1, reject_hint=2, hint_term=1)),
    'vote_response': section(4, raft_msg(4, frm=2, term=3)),
    'timeout_now': section(9, raft_msg(9, frm=0, term=2, index=3)),
}
for k, v in msgs.items():
    seed('fuzz_raft', k, v)
seed('fuzz_raft', 'conversation', msgs['heartbeat'] + msgs['append'] + msgs['commit'] + msgs['vote'] + msgs['truncate'])
seed('fuzz_raft', 'membership', b'\x00' + mem)

# ---- config files -------------------------------------------------------------------------------
for p in sorted(glob.glob(os.path.join(args.conf, '**', '*'), recursive=True)):
    if os.path.isfile(p) and os.path.getsize(p) < 16384:
        seed('fuzz_config', os.path.relpath(p, args.conf).replace('/', '_'), read(p))
for m in ('java494-store.manifest.json', 'java494-dledger.manifest.json'):
    try:
        bc = json.load(open(os.path.join(FIX, m))).get('broker_config')
    except Exception:
        bc = None
    if isinstance(bc, dict):
        seed('fuzz_config', m + '.properties', ''.join('%s=%s\n' % kv for kv in bc.items()).encode())
seed('fuzz_config', 'toml', b'brokerName = "b"\nlistenPort = 10911\nenableDLegerCommitLog = true\n'
                            b'dLegerGroup = "g"\ndLegerPeers = "n0-127.0.0.1:40911;n1-127.0.0.1:40912"\n'
                            b'dLegerSelfId = "n0"\n[store]\nx = 1.5\n')

# ---- controller mode (reference rocketmq-controller.md 3.3, 4.2, 6.6) ------------------------------
SSS = b'{"syncStateSet":[1,2],"syncStateSetEpoch":3}'
GROUP = b'{"brokerAddrs":{1:"10.0.0.1:30911",2:"10.0.0.2:30911"},"brokerName":"broker-a","cluster":"c1"}'
ELECT_BODY = b'{"brokerMemberGroup":' + GROUP + b',"syncStateSet":[2]}'
REPLICAS = (b'{"replicasInfoTable":{"broker-a":{"inSyncReplicas":[{"alive":true,"brokerAddress":"10.0.0.1:30911",'
            b'"brokerId":1,"brokerName":"broker-a"}],"masterAddress":"10.0.0.1:30911","masterBrokerId":1,'
            b'"masterEpoch":3,"notInSyncReplicas":[{"alive":false,"brokerAddress":"10.0.0.2:30911",'
            b'"brokerId":2,"brokerName":"broker-a"}],"syncStateSetEpoch":4}}}')
EPOCH_CACHE = (b'{"brokerId":0,"brokerName":"broker-a","clusterName":"c1","epochList":[{"endOffset":4096,'
               b'"epoch":1,"startOffset":0},{"endOffset":9223372036854775807,"epoch":2,"startOffset":4096}],'
               b'"maxOffset":8192}')
EVENTS = {
    'alter': (1, b'{"brokerName":"broker-a","eventType":"ALTER_SYNC_STATE_SET_EVENT","newSyncStateSet":[1,2]}'),
    'apply': (2, b'{"brokerAddress":"10.0.0.1:30911","brokerName":"broker-a","clusterName":"c1",'
                 b'"eventType":"APPLY_BROKER_ID_EVENT","newBrokerId":1,"registerCheckCode":"10.0.0.1:30911;1700000000000"}'),
    'apply2': (2, b'{"brokerAddress":"10.0.0.2:30911","brokerName":"broker-a","clusterName":"c1",'
                  b'"eventType":"APPLY_BROKER_ID_EVENT","newBrokerId":2,"registerCheckCode":"10.0.0.2:30911;1700000000001"}'),
    'elect': (3, b'{"brokerName":"broker-a","eventType":"ELECT_MASTER_EVENT","newMasterBrokerId":2,"newMasterElected":true}'),
    'elect_none': (3, b'{"brokerName":"broker-a","eventType":"ELECT_MASTER_EVENT","newMasterElected":false}'),
    'read': (4, b'{"eventType":"READ_EVENT"}'),
    'clean': (5, b'{"brokerIdSetToClean":[3],"brokerName":"broker-a","eventType":"CLEAN_BROKER_DATA_EVENT"}'),
    'clean_all': (5, b'{"brokerName":"broker-a","eventType":"CLEAN_BROKER_DATA_EVENT"}'),
    'address': (6, b'{"brokerAddress":"10.0.0.2:30911","brokerId":1,"brokerName":"broker-a","clusterName":"c1",'
                   b'"eventType":"UPDATE_BROKER_ADDRESS"}'),
}


def event(name):
    t, j = EVENTS[name]
    return struct.pack('>h', t) + j


for name, body, sel in (('sss', SSS, 12), ('member_group', GROUP, 13), ('elect_body', ELECT_BODY, 14),
                        ('elect_body_2011', b'{"syncStateSet":[1]}', 14), ('replicas', REPLICAS, 15),
                        ('epoch_cache', EPOCH_CACHE, 16), ('names', b'["broker-a","broker-b"]', 17)):
    seed('fuzz_json', 'controller_' + name, body, [sel])
for name in EVENTS:
    seed('fuzz_json', 'event_' + name, event(name), [18])


def epoch_text(entries, crc=True):
    lines = ''.join('%d-%d\n' % e for e in entries).encode()
    c = zlib.crc32(lines) & 0x7FFFFFFF if crc else 0
    return b'%d\n%d\n' % (len(entries), c) + lines


EPOCHS = [(1, 0), (2, 4096)]
seed('fuzz_config', 'epochFileCheckpoint', epoch_text(EPOCHS), [9])
seed('fuzz_config', 'epochFileCheckpoint_nocrc', epoch_text([(1, 0), (3, 100), (7, 5000)], False), [9])
ops = (section(2, b'\x00\x01\x10\x00') + section(2, b'\x01' + struct.pack('>q', 4096)) + section(2, b'\x04') +
       section(2, b'\x02' + struct.pack('>q', 5000)) + section(2, b'\x03' + struct.pack('>i', 2)) +
       section(2, b'\x00\x80' + struct.pack('>iq', 9, 1 << 20)))
seed('fuzz_config', 'epoch_file', section(0, epoch_text(EPOCHS)) + section(1, epoch_text(EPOCHS[:1])) + ops +
     section(3, epoch_text([(1, 0), (2, 4096), (3, 6000)])), [10])
seed('fuzz_config', 'epoch_file_torn', section(0, epoch_text(EPOCHS)[:9]) + section(1, epoch_text(EPOCHS)) + ops, [10])
seed('fuzz_config', 'brokerIdentity', b'c1#broker-a#2', [11])
seed('fuzz_config', 'brokerIdentity-temp', b'c1#broker-a#2#10.0.0.2:30911;1700000000000', [11])


# fuzz_controller: sections of kind 0 request, 1 heartbeat, 2 log entry, 3 clock, 4 scans, 5 close,
# 6 unclean election.
CODES = {1001: 0, 1002: 1, 1003: 2, 1004: 3, 1006: 4, 1011: 5, 1012: 6, 1013: 7}


def fields(**kv):
    return b''.join(b'%s=%s\n' % (k.encode(), str(v).encode()) for k, v in kv.items())


def request(code, body=b'', **kv):
    return section(0, bytes([CODES[code]]) + fields(**kv) + (b'\0' + body if body else b''))


def heartbeat(broker_id, epoch=1, max_offset=0, name='broker-a', **extra):
    return section(1, bytes([broker_id % 4]) + fields(clusterName='c1', brokerAddr='10.0.0.%d:30911' % broker_id,
                                                       brokerName=name, brokerId=broker_id, epoch=epoch,
                                                       maxOffset=max_offset, confirmOffset=max_offset,
                                                       heartbeatTimeoutMills=10000, electionPriority=broker_id,
                                                       **extra))


def clock(ms):
    return section(3, struct.pack('>H', ms))


def register_flow(broker_id, name='broker-a'):
    addr = '10.0.0.%d:30911' % broker_id
    return (request(1012, clusterName='c1', brokerName=name) +
            request(1013, clusterName='c1', brokerName=name, appliedBrokerId=broker_id,
                    registerCheckCode='%s;17000000000%02d' % (addr, broker_id)) +
            request(1003, clusterName='c1', brokerName=name, brokerId=broker_id, brokerAddress=addr,
                    invokeTime=1700000000000))


beats = heartbeat(1) + heartbeat(2) + heartbeat(3)
setup = beats + register_flow(1) + register_flow(2) + register_flow(3)
elect1 = request(1002, clusterName='c1', brokerName='broker-a', brokerId=1, designateElect='false')
alter = request(1001, b'{"syncStateSet":[1,2],"syncStateSetEpoch":1}', brokerName='broker-a', masterBrokerId=1,
                masterEpoch=1, invokeTime=1700000000000)
reads = (request(1004, brokerName='broker-a') + request(1006, b'["broker-a","broker-b"]') +
         request(1012, clusterName='c1', brokerName='broker-a'))
failover = clock(6000) + heartbeat(2, 1, 4096) + heartbeat(3, 1, 100) + clock(6000) + section(4, b'')
seed('fuzz_controller', 'register_elect_alter', setup + elect1 + alter + reads)
seed('fuzz_controller', 'failover_scan', setup + elect1 + alter + failover + reads)
seed('fuzz_controller', 'failover_channel', setup + elect1 + alter + section(5, b'\x01') + reads)
seed('fuzz_controller', 'admin_elect_clean', setup + elect1 + alter + section(6, b'\x01') +
     request(1002, clusterName='c1', brokerName='broker-a', brokerId=2, designateElect='true') +
     request(1011, clusterName='c1', brokerName='broker-a', brokerControllerIdsToClean='3',
             isCleanLivingBroker='true') +
     request(1011, clusterName='c1', brokerName='broker-a', isCleanLivingBroker='false') + reads)
# RocketMQ keeps a cleaned master's id as masterBrokerId; the same id may be applied again.
seed('fuzz_controller', 'clean_master_reapply', setup + elect1 + alter +
     request(1011, clusterName='c1', brokerName='broker-a', brokerControllerIdsToClean='1', isCleanLivingBroker='true') +
     register_flow(1) + section(4, b'') + reads)
seed('fuzz_controller', 'two_sets', setup + heartbeat(1, name='broker-b') + register_flow(1, 'broker-b') + elect1 +
     request(1002, clusterName='c1', brokerName='broker-b', brokerId=1) + clock(20000) + heartbeat(1, name='broker-b') +
     section(4, b'') + request(1006, b'["broker-a","broker-b"]'))
seed('fuzz_controller', 'log_entries', b''.join(section(2, event(n)) for n in
                                                 ('apply', 'apply2', 'elect', 'alter', 'address', 'read', 'clean',
                                                  'elect_none', 'clean_all')) + beats + reads)

# ---- store recovery ----------------------------------------------------------------------------
def store_seed(root, mode, cq_topic='FixtureTopicA'):
    # The store's first records in a 16 KiB segment and part of a second, its ConsumeQueue units
    # moved along (30-unit files, mode bit 6).
    out = bytes([mode])
    cl = os.path.join(root, 'commitlog')
    names = sorted(os.listdir(cl))
    log, moved = resegment(list(records(read(os.path.join(cl, names[0])))), SEG, SEG + 8192)
    out += section(0, log[:SEG])
    if len(log) > SEG:
        out += section(1, log[SEG:])
    cq = os.path.join(root, 'consumequeue', cq_topic)
    for queue in (0, 1):
        units = b''
        qdir = os.path.join(cq, str(queue))
        for name in sorted(os.listdir(qdir)) if os.path.isdir(qdir) else []:
            data = read(os.path.join(qdir, name))
            for i in range(0, len(data) - 19, 20):
                phy, size, tags = struct.unpack_from('>qiq', data, i)
                if phy in moved:
                    units += struct.pack('>qiq', moved[phy], size, tags)
        for kind, part in (((2, units[:600]), (3, units[600:1200])) if queue == 0 else ((4, units[:600]),)):
            if part:
                out += section(kind, part)
    cp = os.path.join(root, 'checkpoint')
    if os.path.exists(cp):
        out += section(5, read(cp))
    idx = sorted(glob.glob(os.path.join(root, 'index', '*')))
    if idx:
        out += section(6, read(idx[0]))
    return out


# mode: bit 1 CRC check, bit 2 index, bits 3-5 = 4 (16 KiB segments), bit 6 (30-unit CQ files)
seed('fuzz_store_recovery', 'java_store', store_seed(os.path.join(FIX, 'java494-store'), 0x02 | 0x04 | (4 << 3) | 0x40))
seed('fuzz_store_recovery', 'java_store_noindex', store_seed(os.path.join(FIX, 'java494-store'), 0x02 | (4 << 3) | 0x40))
killed = os.path.join(FIX, 'java494-store-killed')
if os.path.isdir(os.path.join(killed, 'commitlog')):
    seed('fuzz_store_recovery', 'killed_store', store_seed(killed, 0x01 | 0x02 | (4 << 3) | 0x40))
small = bytes([0x01 | 0x02 | (2 << 3)]) + section(0, cl0[:4096])
seed('fuzz_store_recovery', 'small_segment', small)
d16 = b''.join(e for pos, e in dl if pos + len(e) <= SEG)  # the entries of a 16 KiB first segment
dl_seed = bytes([0x80 | 4]) + section(0, d16) + section(4, read(os.path.join(n0, 'index', '00000000000000000000'))[:2048])
dl_seed += section(5, read(os.path.join(n0, 'currterm'))) + section(6, read(os.path.join(n0, 'checkpoint')))
seed('fuzz_store_recovery', 'dledger_n0', dl_seed)
def disk_entries(bodies):
    # our own layout: real pos, bodyCrc and chainCrc (raft/entry_codec.h)
    out, chain = b'', 0
    for i, b in enumerate(bodies):
        bcrc = zlib.crc32(b) & 0xffffffff
        chain = zlib.crc32(struct.pack('>Iqq', chain, i, 1) + struct.pack('>I', bcrc)) & 0xffffffff
        out += struct.pack('>iiqqqiIIi', 1, 48 + len(b), i, 1, len(out), 0, chain, bcrc, len(b)) + b
    return out


dl_small = bytes([0x80 | 2]) + section(0, disk_entries([b[:600] for b in bodies])[:4096])
dl_small += section(5, b'voteLeader=n0\ncurrTerm=1\n')
seed('fuzz_store_recovery', 'dledger_small', dl_small)

print('seeds: ' + ', '.join('%s %d' % kv for kv in sorted(counts.items())))
