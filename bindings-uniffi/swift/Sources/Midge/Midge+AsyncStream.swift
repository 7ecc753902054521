// The hand-written Swift layer over the generated bindings (Midge.swift):
// incoming messages and connection states as AsyncStreams, and a text
// publish. It only calls the generated API; no MQTT logic here.
import Foundation

extension MqttClient {
    /// Incoming messages whose topic matches `filter` (`nil`: all), as an
    /// `AsyncStream`.
    ///
    /// The client keeps messages for the stream from the moment this is
    /// called, so call it before `connect()` / `subscribe(...)` to get what
    /// the broker kept for an offline session. The stream is pulled: a slow
    /// consumer makes the connection wait instead of dropping messages.
    /// Cancelling the consuming task ends the stream.
    ///
    /// ```swift
    /// let messages = try client.messageStream(filter: "chat/#")
    /// _ = try await client.connect()
    /// _ = try await client.subscribe(filter: "chat/#", qos: .atLeastOnce)
    /// for await message in messages {
    ///     print(message.topic, message.text)
    /// }
    /// ```
    public func messageStream(filter: String? = nil) throws -> AsyncStream<Message> {
        let stream = try messages(filter: filter)
        return AsyncStream(unfolding: { await stream.next() }, onCancel: { stream.stop() })
    }

    /// The connection state, starting with the current one, then each
    /// change (fast transitions may be conflated; the latest state always
    /// arrives). The stream keeps the client alive until it is cancelled.
    ///
    /// ```swift
    /// for await state in client.connectionStates() where state == .connected {
    ///     break
    /// }
    /// ```
    public func connectionStates() -> AsyncStream<ConnectionState> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                var current = self.state()
                continuation.yield(current)
                while !Task.isCancelled, let next = await self.nextState(current: current) {
                    current = next
                    continuation.yield(next)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Publish UTF-8 text and wait until it is done (acknowledged by the
    /// broker for QoS 1/2).
    ///
    /// ```swift
    /// try await client.publish(topic: "users/alice/presence", text: "online", qos: .atLeastOnce, retain: true)
    /// ```
    @discardableResult
    public func publish(topic: String, text: String, qos: QoS = .atMostOnce, retain: Bool = false) async throws -> PublishResult {
        try await publish(message: Message(topic: topic, payload: Data(text.utf8), qos: qos, retain: retain))
    }
}

extension Message {
    /// The payload decoded as UTF-8 (invalid sequences become U+FFFD).
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

extension ReasonCode {
    /// The wire value, e.g. `0x87` for `.notAuthorized`.
    public var value: UInt8 { reasonCodeValue(code: self) }
}
