package io.midge.mqtt

import java.io.IOException
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update

/**
 * A fault-injecting TCP proxy between clients and a broker on
 * `127.0.0.1:[upstreamPort]` (the Kotlin counterpart of `tests/src/proxy.rs`).
 * Faults apply to the connections open at the time; later connections pass
 * normally, so the clients can recover. Each direction of a connection is
 * forwarded by one thread, chunk by chunk, so bytes are never reordered or
 * duplicated.
 *
 * - [cut]: close every open connection pair at once.
 * - [cutMidChunk]: forward only the first half of the next chunk read in
 *   either direction of each open pair, then close that pair (most chunks
 *   are one or more MQTT packets, so the cut usually lands inside a packet).
 */
class FaultProxy(private val upstreamPort: Int) : AutoCloseable {
    private val server = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
    val port: Int = server.localPort
    val url: String get() = "mqtt://127.0.0.1:$port"

    private val open = ConcurrentHashMap.newKeySet<Connection>()
    private val acceptedCount = MutableStateFlow(0)
    private val connackCount = MutableStateFlow(0)
    private val cutCount = AtomicInteger()
    private val midChunkCutCount = AtomicInteger()

    /**
     * Connections accepted from clients (first connections and reconnects),
     * as a flow so that a test can wait for the clients to come back.
     */
    val accepted: StateFlow<Int> = acceptedCount.asStateFlow()

    /**
     * Successful CONNACKs forwarded to clients (sessions established): the
     * sign that a client is back after a fault, and that the broker has
     * written what it resends on resume right behind the CONNACK.
     */
    val connacks: StateFlow<Int> = connackCount.asStateFlow()

    /** Connection pairs closed by [cut]. */
    val cuts: Int get() = cutCount.get()

    /** Connection pairs cut by [cutMidChunk] (half a chunk forwarded, then closed). */
    val midChunkCuts: Int get() = midChunkCutCount.get()

    /** Connection pairs open now. */
    val openConnections: Int get() = open.size

    private val acceptor = thread(name = "fault-proxy-accept", isDaemon = true) { acceptLoop() }

    /** Close every open connection pair now; returns how many. */
    fun cut(): Int {
        val closed = open.toList().count { it.close() }
        cutCount.addAndGet(closed)
        return closed
    }

    /** Arm every open connection pair to cut inside its next chunk; returns how many. */
    fun cutMidChunk(): Int = open.toList().count { it.armMidChunk.compareAndSet(false, true) }

    /** Stop accepting and close every connection. */
    override fun close() {
        server.close()
        acceptor.join(5_000)
        open.toList().forEach { it.close() }
    }

    private fun acceptLoop() {
        while (true) {
            val client = try {
                server.accept()
            } catch (_: IOException) {
                return // closed by close()
            }
            acceptedCount.update { it + 1 }
            val broker = try {
                Socket(InetAddress.getLoopbackAddress(), upstreamPort)
            } catch (_: IOException) {
                client.close()
                continue
            }
            // MQTT packets are small: forward them at once, as the clients would send them.
            client.tcpNoDelay = true
            broker.tcpNoDelay = true
            val pair = Connection(client, broker)
            open.add(pair)
            thread(name = "fault-proxy-up-$port", isDaemon = true) { pump(pair, client, broker) }
            thread(name = "fault-proxy-down-$port", isDaemon = true) { pump(pair, broker, client, toClient = true) }
        }
    }

    /** Forward [from] to [to] until either side ends or a fault closes the pair. */
    private fun pump(pair: Connection, from: Socket, to: Socket, toClient: Boolean = false) {
        val buffer = ByteArray(16 * 1024)
        var first = true
        try {
            val input = from.getInputStream()
            val output = to.getOutputStream()
            while (true) {
                val n = input.read(buffer)
                if (n < 0) break
                // Only the first direction to read a chunk after arming makes the cut.
                if (pair.armMidChunk.compareAndSet(true, false)) {
                    midChunkCutCount.incrementAndGet()
                    output.write(buffer, 0, n / 2)
                    output.flush()
                    // FIN after the half chunk, so that it reaches the peer before the close.
                    to.shutdownOutput()
                    pair.close()
                    return
                }
                output.write(buffer, 0, n)
                // The broker's first packet is the CONNACK: type 0x20, reason code (byte 3) 0.
                if (toClient && first && buffer[0] == 0x20.toByte() && (n < 4 || buffer[3] == 0.toByte())) {
                    connackCount.update { it + 1 }
                }
                first = false
            }
        } catch (_: IOException) {
            // The other direction or a fault closed the sockets: the pair ends.
        } finally {
            pair.close()
        }
    }

    private inner class Connection(private val client: Socket, private val broker: Socket) {
        val armMidChunk = AtomicBoolean(false)
        private val closed = AtomicBoolean(false)

        /** Close both sockets (unblocking both threads); true for the call that closed them. */
        fun close(): Boolean {
            if (!closed.compareAndSet(false, true)) return false
            open.remove(this)
            runCatching { client.close() }
            runCatching { broker.close() }
            return true
        }
    }
}
