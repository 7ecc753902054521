package io.midge.mqtt

import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking

/**
 * Run in a child JVM by `CallbackThreadsTest`: `AttachedThreadsChild <url> <topic> <clients>`.
 * Each of `clients` clients in turn gets messages through a listener and
 * QoS 1 publishes that suspend, so that midge's threads call into the JVM,
 * and is closed; one more is left connected. Prints `attached A` (JVM
 * threads made for midge's callbacks that are alive now) and returns from
 * `main` without closing that client: the JVM must still exit.
 */
object AttachedThreadsChild {
    @JvmStatic
    fun main(args: Array<String>) {
        val (url, topic, clientsText) = args
        repeat(clientsText.toInt() + 1) { i ->
            val client = MqttClient(MqttOptions(url = url, clientId = "attached-$i-${ProcessHandle.current().pid()}"))
            val got = CountDownLatch(3)
            client.setListener(object : MqttListener {
                override fun onMessage(message: Message) = got.countDown()
                override fun onConnectionStateChanged(state: ConnectionState, cause: String?) {}
            })
            runBlocking {
                client.connect()
                client.subscribe("$topic/$i", QoS.AT_LEAST_ONCE)
                repeat(3) { client.publish(Message("$topic/$i", "$it".encodeToByteArray(), QoS.AT_LEAST_ONCE)) }
            }
            if (!got.await(10, TimeUnit.SECONDS)) {
                System.err.println("client $i: the listener missed messages")
                exitProcess(2)
            }
            if (i < clientsText.toInt()) {
                runBlocking { client.disconnect() }
                client.close()
            }
        }
        val attached = Thread.getAllStackTraces().keys.count { it.name.startsWith("midge-callback") }
        println("attached $attached")
    }
}
