/*
 * SemanticsClients: RocketMQ 4.9.4's Java client driving the broker's message semantics (consumer
 * retries and dead letters, transactions with check-backs, orderly consumption with queue locks,
 * delay levels). Used by tests/integration/java_semantics_test.cc, which starts each mode as a child
 * process and reads its output: one line per event, "WORD key=value key=value ...", flushed at once.
 *
 *   rmq-java javac -d OUT tests/java/SemanticsClients.java
 *   RMQ_JAVA_CP=OUT rmq-java run SemanticsClients MODE ARGS...
 *
 * Modes:
 *   produce NAMESRV TOPIC GROUP KEY_PREFIX N [DELAY_LEVEL=0]
 *       sends N messages (keys KEY_PREFIX-<i>, tag TagS) with a DefaultMQProducer, then exits:
 *       SENT key= msgId= offsetMsgId= queueId= offset= beginMs= endMs=
 *   consume NAMESRV TOPIC GROUP FAIL_TIMES MAX_RECONSUME LIFETIME_S
 *       a DefaultMQPushConsumer (CLUSTERING, from the first offset, MessageListenerConcurrently);
 *       a message whose reconsumeTimes < FAIL_TIMES (FAIL_TIMES -1: always) is answered
 *       RECONSUME_LATER, else CONSUME_SUCCESS; MAX_RECONSUME >= 0 is setMaxReconsumeTimes. Prints
 *       STARTED, then per delivery
 *       RECV key= msgId= reconsumeTimes= topic= retry=<RETRY_TOPIC property set> queueId= offset=
 *            storeMs= bornMs= nowMs= result=SUCCESS|LATER
 *   tx NAMESRV TOPIC GROUP CHECK_ANSWER EXIT_AFTER_SEND LIFETIME_S KEY=LOCAL...
 *       a TransactionMQProducer (setTransactionListener); for each KEY=LOCAL (LOCAL: commit, rollback,
 *       unknown) sends a transactional message whose executeLocalTransaction answers LOCAL;
 *       checkLocalTransaction answers CHECK_ANSWER (commit, rollback, unknown) for every check-back.
 *       Prints STARTED, EXEC key= state=, SENT key= sendStatus= localState= msgId= transactionId=
 *       beginMs= endMs=, SENDS_DONE, and per check-back CHECK key= msgId= transactionId= answer= nowMs=.
 *       With EXIT_AFTER_SEND
 *       true it halts right after SENDS_DONE (as if killed: no shutdown, no END_TRANSACTION for
 *       unknown); else it stays online for LIFETIME_S to answer check-backs.
 *   orderly-produce NAMESRV TOPIC GROUP ORDERS FROM_SEQ TO_SEQ
 *       for seq in [FROM_SEQ, TO_SEQ), for each order in [0, ORDERS): sends key o<order>-s<seq> with
 *       a MessageQueueSelector (order % queues), then exits: SENT order= seq= queueId= offset=
 *   orderly-consume NAMESRV TOPIC GROUP NAME LIFETIME_S SLEEP_MS
 *       a DefaultMQPushConsumer with a MessageListenerOrderly (instance name NAME); each message is
 *       held SLEEP_MS. Per message:
 *       RECV name= order= seq= queueId= offset= run=<ProcessQueue identity> beginUs= endUs=
 *       (microseconds since the epoch, from the same clock in every process on the host).
 * Every mode ends with System.exit (client threads are not all daemons).
 */
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyContext;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyContext;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.impl.consumer.ProcessQueue;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.MessageQueueSelector;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

public class SemanticsClients {
    static synchronized void emit(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static long nowUs() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000L + i.getNano() / 1000;
    }

    public static void main(String[] args) throws Exception {
        // Rebalances and queue (re)locks every second instead of every 20 s, and a dropped queue with
        // cached messages is unlocked at the broker after 1 s instead of 20 s: a new member of an
        // orderly group gets its queues within seconds. These are read by static initializers, so
        // they are set before any client class loads.
        System.setProperty("rocketmq.client.rebalance.waitInterval", "1000");
        System.setProperty("rocketmq.client.rebalance.lockInterval", "1000");
        System.setProperty("rocketmq.client.unlockDelayTimeMills", "1000");
        if (args.length < 1) usage();
        String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
        switch (args[0]) {
            case "produce": produce(rest); break;
            case "consume": consume(rest); break;
            case "tx": tx(rest); break;
            case "orderly-produce": orderlyProduce(rest); break;
            case "orderly-consume": orderlyConsume(rest); break;
            default: usage();
        }
    }

    static void usage() {
        System.err.println("usage: SemanticsClients produce|consume|tx|orderly-produce|orderly-consume ARGS... "
            + "(see the comment at the top of SemanticsClients.java)");
        System.exit(2);
    }

    static void need(String[] a, int n) {
        if (a.length < n) usage();
    }

    static DefaultMQProducer startProducer(DefaultMQProducer p, String namesrv) throws Exception {
        p.setNamesrvAddr(namesrv);
        p.setSendMsgTimeout(10000);
        p.setHeartbeatBrokerInterval(1000);
        p.setPollNameServerInterval(1000);
        p.setRetryTimesWhenSendFailed(4);
        p.start();
        return p;
    }

    static void produce(String[] a) throws Exception {
        need(a, 5);
        String namesrv = a[0], topic = a[1], group = a[2], prefix = a[3];
        int n = Integer.parseInt(a[4]);
        int delayLevel = a.length > 5 ? Integer.parseInt(a[5]) : 0;
        DefaultMQProducer producer = startProducer(new DefaultMQProducer(group), namesrv);
        for (int i = 0; i < n; i++) {
            String key = prefix + "-" + i;
            Message msg = new Message(topic, "TagS", key, ("body of " + key).getBytes(StandardCharsets.UTF_8));
            if (delayLevel > 0) {
                msg.setDelayTimeLevel(delayLevel);
            }
            long begin = System.currentTimeMillis();
            SendResult r = producer.send(msg);
            long end = System.currentTimeMillis();
            if (r.getSendStatus() != SendStatus.SEND_OK) {
                emit("SEND_FAILED key=" + key + " status=" + r.getSendStatus());
                System.exit(1);
            }
            emit("SENT key=" + key + " msgId=" + r.getMsgId() + " offsetMsgId=" + r.getOffsetMsgId() + " queueId="
                + r.getMessageQueue().getQueueId() + " offset=" + r.getQueueOffset() + " beginMs=" + begin
                + " endMs=" + end);
        }
        emit("SENDS_DONE");
        producer.shutdown();
        System.exit(0);
    }

    static DefaultMQPushConsumer newConsumer(String namesrv, String group, String topic) throws Exception {
        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
        consumer.setNamesrvAddr(namesrv);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.setPersistConsumerOffsetInterval(1000);
        consumer.setHeartbeatBrokerInterval(1000);
        consumer.setPollNameServerInterval(1000);
        consumer.setConsumeMessageBatchMaxSize(1);
        consumer.subscribe(topic, "*");
        return consumer;
    }

    static void consume(String[] a) throws Exception {
        need(a, 6);
        String namesrv = a[0], topic = a[1], group = a[2];
        final int failTimes = Integer.parseInt(a[3]);
        int maxReconsume = Integer.parseInt(a[4]);
        int lifetimeS = Integer.parseInt(a[5]);
        DefaultMQPushConsumer consumer = newConsumer(namesrv, group, topic);
        if (maxReconsume >= 0) {
            consumer.setMaxReconsumeTimes(maxReconsume);
        }
        consumer.registerMessageListener(new MessageListenerConcurrently() {
            @Override
            public ConsumeConcurrentlyStatus consumeMessage(List<MessageExt> msgs, ConsumeConcurrentlyContext ctx) {
                boolean later = false;
                for (MessageExt m : msgs) {
                    boolean fail = failTimes < 0 || m.getReconsumeTimes() < failTimes;
                    later |= fail;
                    emit("RECV key=" + m.getKeys() + " msgId=" + m.getMsgId() + " reconsumeTimes=" + m.getReconsumeTimes()
                        + " topic=" + m.getTopic() + " retry=" + (m.getProperty(MessageConst.PROPERTY_RETRY_TOPIC) != null)
                        + " queueId=" + m.getQueueId() + " offset=" + m.getQueueOffset() + " storeMs="
                        + m.getStoreTimestamp() + " bornMs=" + m.getBornTimestamp() + " nowMs=" + System.currentTimeMillis()
                        + " result=" + (fail ? "LATER" : "SUCCESS"));
                }
                return later ? ConsumeConcurrentlyStatus.RECONSUME_LATER : ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            }
        });
        consumer.start();
        emit("STARTED");
        Thread.sleep(lifetimeS * 1000L);
        consumer.shutdown();
        System.exit(0);
    }

    static LocalTransactionState parseState(String s) {
        switch (s) {
            case "commit": return LocalTransactionState.COMMIT_MESSAGE;
            case "rollback": return LocalTransactionState.ROLLBACK_MESSAGE;
            case "unknown": return LocalTransactionState.UNKNOW;
            default:
                System.err.println("unknown transaction state " + s);
                System.exit(2);
                return null;
        }
    }

    static void tx(String[] a) throws Exception {
        need(a, 6);
        String namesrv = a[0], topic = a[1], group = a[2];
        final LocalTransactionState checkAnswer = parseState(a[3]);
        boolean exitAfterSend = Boolean.parseBoolean(a[4]);
        int lifetimeS = Integer.parseInt(a[5]);
        final Map<String, LocalTransactionState> local = new HashMap<>();
        List<String> keys = new java.util.ArrayList<>();
        for (int i = 6; i < a.length; i++) {
            int eq = a[i].indexOf('=');
            if (eq <= 0) usage();
            keys.add(a[i].substring(0, eq));
            local.put(a[i].substring(0, eq), parseState(a[i].substring(eq + 1)));
        }
        TransactionMQProducer producer = new TransactionMQProducer(group);
        producer.setTransactionListener(new TransactionListener() {
            @Override
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                LocalTransactionState s = local.get(msg.getKeys());
                emit("EXEC key=" + msg.getKeys() + " state=" + s);
                return s;
            }

            @Override
            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                emit("CHECK key=" + msg.getKeys() + " msgId=" + msg.getMsgId() + " transactionId=" + msg.getTransactionId()
                    + " answer=" + checkAnswer + " nowMs=" + System.currentTimeMillis());
                return checkAnswer;
            }
        });
        startProducer(producer, namesrv);
        emit("STARTED");
        for (String key : keys) {
            Message msg = new Message(topic, "TagT", key, ("body of " + key).getBytes(StandardCharsets.UTF_8));
            long begin = System.currentTimeMillis();
            TransactionSendResult r = producer.sendMessageInTransaction(msg, null);
            emit("SENT key=" + key + " sendStatus=" + r.getSendStatus() + " localState=" + r.getLocalTransactionState()
                + " msgId=" + r.getMsgId() + " transactionId=" + r.getTransactionId() + " beginMs=" + begin + " endMs="
                + System.currentTimeMillis());
        }
        emit("SENDS_DONE");
        if (exitAfterSend) {
            Runtime.getRuntime().halt(0);
        }
        Thread.sleep(lifetimeS * 1000L);
        producer.shutdown();
        System.exit(0);
    }

    static void orderlyProduce(String[] a) throws Exception {
        need(a, 6);
        String namesrv = a[0], topic = a[1], group = a[2];
        int orders = Integer.parseInt(a[3]), from = Integer.parseInt(a[4]), to = Integer.parseInt(a[5]);
        DefaultMQProducer producer = startProducer(new DefaultMQProducer(group), namesrv);
        MessageQueueSelector byOrder = new MessageQueueSelector() {
            @Override
            public MessageQueue select(List<MessageQueue> mqs, Message msg, Object arg) {
                return mqs.get((Integer) arg % mqs.size());
            }
        };
        for (int seq = from; seq < to; seq++) {
            for (int order = 0; order < orders; order++) {
                String key = "o" + order + "-s" + seq;
                Message msg = new Message(topic, "TagO", key, ("order " + order + " seq " + seq).getBytes(StandardCharsets.UTF_8));
                msg.putUserProperty("order", Integer.toString(order));
                msg.putUserProperty("seq", Integer.toString(seq));
                SendResult r = producer.send(msg, byOrder, order);
                if (r.getSendStatus() != SendStatus.SEND_OK) {
                    emit("SEND_FAILED key=" + key + " status=" + r.getSendStatus());
                    System.exit(1);
                }
                emit("SENT order=" + order + " seq=" + seq + " queueId=" + r.getMessageQueue().getQueueId() + " offset="
                    + r.getQueueOffset());
            }
        }
        emit("SENDS_DONE");
        producer.shutdown();
        System.exit(0);
    }

    static void orderlyConsume(String[] a) throws Exception {
        need(a, 6);
        String namesrv = a[0], topic = a[1], group = a[2];
        final String name = a[3];
        int lifetimeS = Integer.parseInt(a[4]);
        final long sleepMs = Long.parseLong(a[5]);
        final DefaultMQPushConsumer consumer = newConsumer(namesrv, group, topic);
        consumer.setInstanceName(name);
        consumer.registerMessageListener(new MessageListenerOrderly() {
            @Override
            public ConsumeOrderlyStatus consumeMessage(List<MessageExt> msgs, ConsumeOrderlyContext ctx) {
                // The ProcessQueue this run of the queue uses: a queue dropped and taken again gets a new one.
                ProcessQueue pq = consumer.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable()
                    .get(ctx.getMessageQueue());
                int run = pq == null ? 0 : System.identityHashCode(pq);
                for (MessageExt m : msgs) {
                    long begin = nowUs();
                    if (sleepMs > 0) {
                        try {
                            Thread.sleep(sleepMs);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    long end = nowUs();
                    emit("RECV name=" + name + " order=" + m.getUserProperty("order") + " seq=" + m.getUserProperty("seq")
                        + " queueId=" + m.getQueueId() + " offset=" + m.getQueueOffset() + " run=" + run + " beginUs="
                        + begin + " endUs=" + end);
                }
                return ConsumeOrderlyStatus.SUCCESS;
            }
        });
        consumer.start();
        emit("STARTED name=" + name);
        Thread.sleep(lifetimeS * 1000L);
        consumer.shutdown();
        System.exit(0);
    }
}
