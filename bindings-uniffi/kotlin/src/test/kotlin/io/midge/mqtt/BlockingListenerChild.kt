package io.midge.mqtt

import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking

/**
 * Run in a child JVM by `ListenerTest`: `BlockingListenerChild <url> <topic> <count>`.
 * An [MqttListener] that blocks for 20 ms per message handles `count`
 * messages, then the client disconnects; prints `handled N`. The parent
 * reads everything this JVM wrote, JNA's own native messages included.
 */
object BlockingListenerChild {
    @JvmStatic
    fun main(args: Array<String>) {
        val (url, topic, countText) = args
        val count = countText.toInt()
        val handled = CountDownLatch(count)
        MqttClient(MqttOptions(url = url, clientId = "blocking-listener-${ProcessHandle.current().pid()}")).use { sub ->
            sub.setListener(object : MqttListener {
                override fun onMessage(message: Message) {
                    Thread.sleep(20) // a listener that blocks, as apps' listeners do
                    handled.countDown()
                }

                override fun onConnectionStateChanged(state: ConnectionState, cause: String?) {}
            })
            MqttClient(MqttOptions(url = url, clientId = "blocking-publisher-${ProcessHandle.current().pid()}")).use { pub ->
                runBlocking {
                    sub.connect()
                    sub.subscribe(topic, QoS.AT_LEAST_ONCE)
                    pub.connect()
                    repeat(count) { pub.publish(Message(topic, "$it".encodeToByteArray(), QoS.AT_LEAST_ONCE)) }
                    if (!handled.await(30, TimeUnit.SECONDS)) {
                        System.err.println("handled only ${count - handled.count} of $count")
                        exitProcess(2)
                    }
                    pub.disconnect()
                    sub.setListener(null)
                    sub.disconnect()
                }
            }
        }
        println("handled $count")
    }
}
