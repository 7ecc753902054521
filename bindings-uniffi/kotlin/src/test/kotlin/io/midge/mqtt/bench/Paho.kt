// The peer's side of the benches: Eclipse Paho's Java client (mqttv3).
package io.midge.mqtt.bench

import io.midge.mqtt.Broker
import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken
import org.eclipse.paho.client.mqttv3.MqttAsyncClient
import org.eclipse.paho.client.mqttv3.MqttCallback
import org.eclipse.paho.client.mqttv3.MqttConnectOptions
import org.eclipse.paho.client.mqttv3.MqttMessage
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence

/**
 * A Paho publisher and subscriber (MQTT 3.1.1, clean sessions), connected,
 * the subscriber subscribed to [topic] at [qos] and each of its messages
 * handed to [onMessage] on Paho's callback thread.
 */
internal class PahoPair(broker: Broker, tag: String, topic: String, qos: Int, onMessage: (MqttMessage) -> Unit) :
    AutoCloseable {
    val pub = MqttAsyncClient("tcp://127.0.0.1:${broker.port}", "paho-pub-$tag", MemoryPersistence())
    private val sub = MqttAsyncClient("tcp://127.0.0.1:${broker.port}", "paho-sub-$tag", MemoryPersistence())

    init {
        val options = MqttConnectOptions().apply {
            isCleanSession = true
            mqttVersion = MqttConnectOptions.MQTT_VERSION_3_1_1
            // Far above any bench's own window: the bench, not Paho, decides
            // how many wait. Paho frees a publish's slot a little after it
            // completes the token, so with its default (10) a publish made
            // right after a wait can find none free.
            maxInflight = 65535
        }
        sub.setCallback(object : MqttCallback {
            override fun connectionLost(cause: Throwable?) {}
            override fun deliveryComplete(token: IMqttDeliveryToken?) {}
            override fun messageArrived(topic: String?, message: MqttMessage) = onMessage(message)
        })
        sub.connect(options).waitForCompletion()
        pub.connect(options).waitForCompletion()
        sub.subscribe(topic, qos).waitForCompletion()
    }

    override fun close() {
        for (client in listOf(pub, sub)) {
            client.disconnect().waitForCompletion()
            client.close()
        }
    }
}
