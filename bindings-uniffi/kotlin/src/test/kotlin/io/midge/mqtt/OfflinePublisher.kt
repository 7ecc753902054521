package io.midge.mqtt

import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking

/**
 * The first process of the durable-store test, run in a child JVM:
 * `OfflinePublisher <url> <store path> <client id> <count>`.
 *
 * The broker is down. It tries to connect (and fails), hands `count` QoS 1
 * and `count` QoS 2 messages to the client, and once `sync()` has returned
 * (every publish is in the store by then) it halts the JVM without any
 * cleanup, like an app killed by the OS.
 */
object OfflinePublisher {
    @JvmStatic
    fun main(args: Array<String>) {
        val (url, store, clientId, countText) = args
        val count = countText.toInt()
        val options = MqttOptions(
            url = url,
            clientId = clientId,
            cleanStart = false,
            sessionExpiryIntervalSecs = 3600u,
            sessionStorePath = store,
            reconnect = false,
        )
        val client = MqttClient(options)
        runBlocking {
            try {
                client.connect()
                System.err.println("OfflinePublisher: expected the broker to be down")
                exitProcess(2)
            } catch (e: MqttException.Transport) {
                println("offline: ${e.message}")
            }
            for (i in 1..count) {
                client.startPublish(Message("offline/q1/$i", "q1-$i".encodeToByteArray(), QoS.AT_LEAST_ONCE))
                client.startPublish(Message("offline/q2/$i", "q2-$i".encodeToByteArray(), QoS.EXACTLY_ONCE))
            }
            client.sync()
        }
        println("queued ${2 * count}")
        System.out.flush()
        Runtime.getRuntime().halt(0)
    }
}
