package io.midge.mqtt

import java.io.File
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.nio.file.Files

/**
 * A mosquitto of the test's own, on a free loopback port with a generated
 * config. [start] returns once the port accepts connections; [stop] kills it
 * and waits. It can be started again on the same port (broker restarts).
 */
class Broker(extraConfig: String = "") : AutoCloseable {
    val port: Int = ServerSocket(0).use { it.localPort }
    val url: String get() = "mqtt://127.0.0.1:$port"
    val dir: File = Files.createTempDirectory("midge-broker").toFile()
    private val config = File(dir, "mosquitto.conf")
    private val log = File(dir, "mosquitto.log")
    private var process: Process? = null

    init {
        config.writeText(
            """
            listener $port 127.0.0.1
            allow_anonymous true
            persistence false
            log_dest stdout
            $extraConfig
            """.trimIndent() + "\n",
        )
    }

    fun start(): Broker {
        check(process == null) { "already running" }
        val p = ProcessBuilder(MOSQUITTO, "-c", config.path)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log))
            .start()
        process = p
        val deadline = System.nanoTime() + 10_000_000_000L
        while (System.nanoTime() < deadline) {
            check(p.isAlive) { "mosquitto exited: ${log.readText()}" }
            try {
                Socket().use { it.connect(InetSocketAddress("127.0.0.1", port), 200) }
                return this
            } catch (_: java.io.IOException) {
                Thread.onSpinWait()
                Thread.sleep(20) // polling interval while waiting for the listener
            }
        }
        error("mosquitto did not listen on $port: ${log.readText()}")
    }

    fun stop() {
        val p = process ?: return
        p.destroy()
        if (!p.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) p.destroyForcibly().waitFor()
        process = null
    }

    override fun close() {
        stop()
        dir.deleteRecursively()
    }

    companion object {
        val MOSQUITTO: String = listOf("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto")
            .firstOrNull { File(it).canExecute() } ?: "mosquitto"
    }
}
