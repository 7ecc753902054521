// Idle connections beside Paho Java: N clients of one library in one JVM,
// connected to one mosquitto and left idle, as bindings-python/bench/idle.py
// does for Python. Each library runs in a child JVM of its own (this program
// with --child), so one library's memory never counts for the other.
//
// The child measures:
// - memory per connection, in KiB: the Java heap in use, plus the rest of
//   the process's RSS (native memory, thread stacks, code), each as (with
//   all N connected and idle for 2 s, after a GC) minus (before the first
//   of them was made, once one client has connected and closed to load the
//   library), / N. The child's heap has a fixed size and is touched up
//   front (-Xms = -Xmx, -XX:+AlwaysPreTouch), so RSS does not move with
//   the heap's own growth or shrinking and the two parts do not overlap;
// - connect all: from making the first client to the last CONNACK, in
//   batches of 100 connecting at once (mosquitto's listen backlog);
// - idle CPU: the whole JVM's CPU time (every thread) over the idle window;
// - threads alive (/proc/self/status), and connections still up after it.
//
// Not a test: bindings-uniffi/kotlin/bench.sh idle [connections] [idle seconds].
package io.midge.mqtt.bench

import io.midge.mqtt.Broker
import io.midge.mqtt.ConnectionState
import io.midge.mqtt.MqttClient
import io.midge.mqtt.MqttOptions
import io.midge.mqtt.ProtocolVersion
import java.io.File
import java.lang.management.ManagementFactory
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.eclipse.paho.client.mqttv3.MqttAsyncClient
import org.eclipse.paho.client.mqttv3.MqttConnectOptions
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence

private const val BATCH = 100
private const val KEEP_ALIVE_S = 60

/** The child JVM's heap, fixed and touched up front: enough for Paho's 5,000 connections. */
private const val CHILD_HEAP = "512m"

/** A field of /proc/self/status as a number (VmRSS in KiB, Threads). */
private fun status(field: String): Long =
    File("/proc/self/status").readLines().first { it.startsWith("$field:") }.split(Regex("\\s+"))[1].toLong()

/** What one library's clients hold: how to connect them all and count those still up. */
private interface IdleClients {
    /** Connects [n] clients in batches of [BATCH], from id [first]. */
    fun connectAll(port: Int, n: Int, first: Int = 0)
    fun connected(): Int
    fun closeAll()
}

private class MidgeClients : IdleClients {
    private val clients = mutableListOf<MqttClient>()

    override fun connectAll(port: Int, n: Int, first: Int) = runBlocking {
        for (start in first until first + n step BATCH) {
            val batch = (start until minOf(first + n, start + BATCH)).map { i ->
                MqttClient(
                    MqttOptions(
                        url = "mqtt://127.0.0.1:$port",
                        clientId = "idle-midge-$i",
                        protocol = ProtocolVersion.V311,
                        keepAliveSecs = KEEP_ALIVE_S.toUInt(),
                        reconnect = false,
                    ),
                )
            }
            clients += batch
            batch.map { client -> async { client.connect() } }.awaitAll()
        }
    }

    override fun connected(): Int = clients.count { it.state() == ConnectionState.CONNECTED }

    override fun closeAll() = runBlocking {
        for (client in clients) {
            client.disconnect()
            client.close()
        }
    }
}

private class PahoClients : IdleClients {
    private val clients = mutableListOf<MqttAsyncClient>()

    override fun connectAll(port: Int, n: Int, first: Int) {
        val options = MqttConnectOptions().apply {
            isCleanSession = true
            mqttVersion = MqttConnectOptions.MQTT_VERSION_3_1_1
            keepAliveInterval = KEEP_ALIVE_S
            isAutomaticReconnect = false
        }
        for (start in first until first + n step BATCH) {
            val batch = (start until minOf(first + n, start + BATCH)).map { i ->
                MqttAsyncClient("tcp://127.0.0.1:$port", "idle-paho-$i", MemoryPersistence())
            }
            clients += batch
            batch.map { it.connect(options) }.forEach { it.waitForCompletion(30_000) }
        }
    }

    override fun connected(): Int = clients.count { it.isConnected }

    override fun closeAll() {
        for (client in clients) {
            client.disconnect().waitForCompletion(10_000)
            client.close()
        }
    }
}

/** In the child JVM: connect, measure, print one line of key=value fields. */
private fun child(library: String, port: Int, n: Int, idleSeconds: Long) {
    val os = ManagementFactory.getOperatingSystemMXBean() as com.sun.management.OperatingSystemMXBean
    val memory = ManagementFactory.getMemoryMXBean()
    fun clientsOf(library: String): IdleClients = if (library == "midge") MidgeClients() else PahoClients()
    // One client connected and closed first loads the library's classes and
    // native code, so that what follows counts the connections alone (as a
    // Python import does before idle.py's first measurement).
    clientsOf(library).apply {
        connectAll(port, 1, first = n)
        closeAll()
    }
    val clients = clientsOf(library)
    System.gc()
    val rss0 = status("VmRSS")
    val heap0 = memory.heapMemoryUsage.used
    val t0 = System.nanoTime()
    clients.connectAll(port, n)
    val connectSeconds = (System.nanoTime() - t0) / 1e9
    // A fixed settling window, the same for both libraries: what is measured
    // is what the connections hold once nothing is happening, not a condition.
    Thread.sleep(2_000)
    System.gc()
    val rss1 = status("VmRSS")
    val heap1 = memory.heapMemoryUsage.used
    val threads = status("Threads")
    val cpu0 = os.processCpuTime
    Thread.sleep(idleSeconds * 1_000)
    val idleCpuMs = (os.processCpuTime - cpu0) / 1e6
    val up = clients.connected()
    println(
        "result rss_kib=%.1f heap_kib=%.1f total_kib=%.1f connect_s=%.2f idle_cpu_ms=%.1f threads=%d connected=%d".format(
            (rss1 - rss0).toDouble() / n,
            (heap1 - heap0) / 1024.0 / n,
            ((rss1 - rss0) + (heap1 - heap0) / 1024.0) / n,
            connectSeconds,
            idleCpuMs,
            threads,
            up,
        ),
    )
    clients.closeAll()
}

/** Runs one library in a child JVM with this JVM's class path and library path. */
private fun runChild(library: String, broker: Broker, n: Int, idleSeconds: Long): Map<String, String> {
    val java = ProcessHandle.current().info().command().orElse("java")
    val command = listOf(
        java,
        "-Xms$CHILD_HEAP",
        "-Xmx$CHILD_HEAP",
        "-XX:+AlwaysPreTouch",
        "-Djna.library.path=${System.getProperty("jna.library.path") ?: ""}",
        "-cp", System.getProperty("java.class.path"),
        "io.midge.mqtt.bench.IdleKt", "--child", library, broker.port.toString(), n.toString(),
        idleSeconds.toString(),
    )
    val process = ProcessBuilder(command).redirectErrorStream(true).start()
    val output = process.inputStream.bufferedReader().readLines()
    check(process.waitFor() == 0) { "the $library child failed:\n${output.joinToString("\n")}" }
    val line = output.lastOrNull { it.startsWith("result ") } ?: error("no result from the $library child:\n$output")
    return line.removePrefix("result ").split(" ").associate { it.substringBefore("=") to it.substringAfter("=") }
}

fun main(args: Array<String>) {
    if (args.firstOrNull() == "--child") {
        child(args[1], args[2].toInt(), args[3].toInt(), args[4].toLong())
        return
    }
    val n = args.getOrNull(0)?.toInt() ?: 1_000
    val idleSeconds = args.getOrNull(1)?.toLong() ?: 30
    println("Kotlin/JVM: $n idle connections in one JVM, MQTT 3.1.1, keep-alive $KEEP_ALIVE_S s, idle $idleSeconds s")
    println(
        "| library | KiB per connection | of it, outside the Java heap (RSS) | of it, Java heap | " +
            "connect all, s | idle CPU, ms | threads | still connected |",
    )
    println("|---|---|---|---|---|---|---|---|")
    for (library in listOf("midge", "paho-java")) {
        Broker("max_connections -1").start().use { broker ->
            val r = runChild(library, broker, n, idleSeconds)
            println(
                "| $library | ${r["total_kib"]} | ${r["rss_kib"]} | ${r["heap_kib"]} | ${r["connect_s"]} | ${r["idle_cpu_ms"]} | " +
                    "${r["threads"]} | ${r["connected"]} of $n |",
            )
        }
    }
}
