/*
 * AdminClients: a Java producer and push consumer (RocketMQ 4.9.4's client) that stay online, so that
 * the Java mqadmin's consumer and producer subcommands (consumerProgress, consumerConnection,
 * producerConnection, resetOffsetByTime) have live clients to look at. Used by
 * tests/integration/java_admin_test.cc.
 *
 *   rmq-java javac -d OUT tests/java/AdminClients.java
 *   RMQ_JAVA_CP=OUT rmq-java run AdminClients NAMESRV TOPIC PRODUCER_GROUP CONSUMER_GROUP N [LIFETIME_S=150]
 *
 * It sends N messages (tag TagA, key "k<i>", body "admin-body-<i>"), printing one line per message:
 *   sent <i> queue=<brokerName>:<queueId> offset=<queueOffset> msgId=<uniq id> offsetMsgId=<offset id>
 * then starts a push consumer (CONSUME_FROM_FIRST_OFFSET, offsets committed every second) and prints
 *   recv <i> queue=... offset=... delivery=<n>
 * per delivery; "consumed <N>" once every message arrived, and "redelivered <i>" whenever a message
 * arrives again (after a reset of the group's offsets). It then stays online (the producer group
 * and the consumer group heartbeat every second) until LIFETIME_S has passed or it is killed.
 */
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyContext;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

public class AdminClients {
    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: AdminClients NAMESRV TOPIC PRODUCER_GROUP CONSUMER_GROUP N [LIFETIME_S=150]");
            System.exit(2);
        }
        final String namesrv = args[0];
        final String topic = args[1];
        final String producerGroup = args[2];
        final String consumerGroup = args[3];
        final int n = Integer.parseInt(args[4]);
        final int lifetimeS = args.length > 5 ? Integer.parseInt(args[5]) : 150;

        DefaultMQProducer producer = new DefaultMQProducer(producerGroup);
        producer.setNamesrvAddr(namesrv);
        producer.setSendMsgTimeout(10000);
        producer.setHeartbeatBrokerInterval(1000);
        producer.start();
        for (int i = 0; i < n; i++) {
            Message msg = new Message(topic, "TagA", "k" + i, ("admin-body-" + i).getBytes(StandardCharsets.UTF_8));
            SendResult r = producer.send(msg);
            if (r.getSendStatus() != SendStatus.SEND_OK) {
                System.out.printf("send %d FAILED status=%s%n", i, r.getSendStatus());
                System.exit(1);
            }
            System.out.printf("sent %d queue=%s:%d offset=%d msgId=%s offsetMsgId=%s%n", i,
                r.getMessageQueue().getBrokerName(), r.getMessageQueue().getQueueId(), r.getQueueOffset(),
                r.getMsgId(), r.getOffsetMsgId());
        }

        final Map<String, Integer> deliveries = new ConcurrentHashMap<>();
        final AtomicBoolean all = new AtomicBoolean();
        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(consumerGroup);
        consumer.setNamesrvAddr(namesrv);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.setPersistConsumerOffsetInterval(1000);
        consumer.setHeartbeatBrokerInterval(1000);
        consumer.subscribe(topic, "*");
        consumer.registerMessageListener(new MessageListenerConcurrently() {
            @Override
            public ConsumeConcurrentlyStatus consumeMessage(List<MessageExt> msgs, ConsumeConcurrentlyContext ctx) {
                for (MessageExt m : msgs) {
                    String key = m.getKeys();
                    int times = deliveries.merge(key, 1, Integer::sum);
                    System.out.printf("recv %s queue=%s:%d offset=%d delivery=%d%n", key, m.getBrokerName(),
                        m.getQueueId(), m.getQueueOffset(), times);
                    if (times > 1) {
                        System.out.printf("redelivered %s%n", key);
                    }
                }
                if (deliveries.size() >= n && all.compareAndSet(false, true)) {
                    System.out.printf("consumed %d%n", n);
                }
                System.out.flush();
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            }
        });
        consumer.start();
        System.out.printf("consumer started%n");
        System.out.flush();
        Thread.sleep(lifetimeS * 1000L);
        consumer.shutdown();
        producer.shutdown();
        System.exit(0);
    }
}
