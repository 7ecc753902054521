//! Brokers started by the tests: each on a free loopback port, from a config
//! generated in its own temp dir, in its own process group (so that a broker
//! that forks, like RabbitMQ's Erlang VM, is stopped whole), killed on drop.

use std::fmt;
use std::fs;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, poll_until, tests_dir, HarnessError};

/// The brokers of the interop matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerKind {
    Mosquitto,
    Aedes,
    Amqtt,
    RabbitMq,
    /// moquette 0.17 (Maven Central), `tests/brokers/moquette`.
    Moquette,
    /// HiveMQ CE embedded (Maven Central), `tests/brokers/hivemq`.
    HiveMq,
    /// Debian's ActiveMQ 5.17 with the MQTT codec of `libmqtt-client-java`.
    ActiveMq,
}

impl BrokerKind {
    pub const ALL: [BrokerKind; 7] = [
        BrokerKind::Mosquitto,
        BrokerKind::Aedes,
        BrokerKind::Amqtt,
        BrokerKind::RabbitMq,
        BrokerKind::Moquette,
        BrokerKind::HiveMq,
        BrokerKind::ActiveMq,
    ];

    /// How long start-up may take before the broker counts as broken.
    fn ready_within(self) -> Duration {
        match self {
            // The Erlang VM plus the MQTT plugin's Raft election: ~14 s seen
            // on 2 busy cores.
            BrokerKind::RabbitMq => Duration::from_secs(90),
            // A JVM on 2 busy cores.
            BrokerKind::HiveMq | BrokerKind::Moquette | BrokerKind::ActiveMq => {
                Duration::from_secs(60)
            }
            _ => Duration::from_secs(20),
        }
    }
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerKind::Mosquitto => "mosquitto",
            BrokerKind::Aedes => "aedes",
            BrokerKind::Amqtt => "amqtt",
            BrokerKind::RabbitMq => "rabbitmq",
            BrokerKind::Moquette => "moquette",
            BrokerKind::HiveMq => "hivemq-ce",
            BrokerKind::ActiveMq => "activemq",
        })
    }
}

/// Options of a mosquitto started by [`Broker::mosquitto`].
#[derive(Debug, Clone, Default)]
pub struct MosquittoConfig {
    /// `persistence true`, saved after every change, so that a `kill -9`
    /// loses as little as mosquitto allows.
    pub persistence: bool,
    /// More config lines (e.g. `password_file ...`); replaces
    /// `allow_anonymous true` when it sets `allow_anonymous` itself.
    pub extra: String,
}

/// A running broker; killed (whole process group) when dropped.
pub struct Broker {
    pub kind: BrokerKind,
    pub port: u16,
    /// Every port that must accept connections before the broker counts as
    /// ready (`port` first).
    ports: Vec<u16>,
    version: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// RabbitMQ's own epmd, on a private port.
    epmd: Option<Child>,
    command: Vec<String>,
    env: Vec<(String, String)>,
    /// A line the broker logs once it is ready (besides its ports accepting).
    ready_line: Option<&'static str>,
    /// The WebSocket listener (path `/mqtt`), where the broker has one.
    ws_port: Option<u16>,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("kind", &self.kind)
            .field("port", &self.port)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

const MOSQUITTO: [&str; 2] = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"];
const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const ACTIVEMQ_JAR: &str = "/usr/share/activemq/bin/activemq.jar";
const MQTT_CLIENT_JAR: &str = "/usr/share/java/mqtt-client.jar";

impl Broker {
    /// Start a broker of `kind` with its default test config.
    pub fn start(kind: BrokerKind) -> Result<Broker, HarnessError> {
        match kind {
            BrokerKind::Mosquitto => Broker::mosquitto(MosquittoConfig::default()),
            BrokerKind::Aedes => Broker::aedes(),
            BrokerKind::Amqtt => Broker::amqtt(),
            BrokerKind::RabbitMq => Broker::rabbitmq(),
            BrokerKind::Moquette => Broker::moquette(),
            BrokerKind::HiveMq => Broker::hivemq(),
            BrokerKind::ActiveMq => Broker::activemq(),
        }
    }

    /// Debian's mosquitto.
    pub fn mosquitto(config: MosquittoConfig) -> Result<Broker, HarnessError> {
        let kind = BrokerKind::Mosquitto;
        let (exe, version) = mosquitto_exe()?;
        let dir = temp_dir(kind)?;
        let port = free_port()?;
        // mosquitto started as root drops to user `mosquitto`, which cannot
        // write our temp dir: stay the user we are.
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let anonymous = if config.extra.contains("allow_anonymous") {
            ""
        } else {
            "allow_anonymous true\n"
        };
        let mut conf = format!(
            "user {user}\nlistener {port} 127.0.0.1\n{anonymous}\
             max_queued_messages 100000\nlog_dest stdout\n{}\n",
            config.extra
        );
        if config.persistence {
            conf.push_str(&format!(
                "persistence true\npersistence_location {}/\n\
                 autosave_interval 1\nautosave_on_changes true\n",
                dir.path().display()
            ));
        }
        let conf_path = dir.path().join("mosquitto.conf");
        write(&conf_path, &conf)?;
        let command = vec![
            exe.to_string(),
            "-c".into(),
            conf_path.display().to_string(),
        ];
        Broker::launch(kind, port, version, dir, command, Vec::new(), None)
    }

    /// Debian's mosquitto from a config template (the form `midge-testkit`
    /// takes): each `{port:NAME}` becomes a free loopback port, the same for
    /// every mention of NAME, and `{dir}` the broker's temp dir. Started and
    /// ready on every port when `start`; returns the ports by name, in the
    /// order of their first mention.
    pub fn mosquitto_template(
        template: &str,
        start: bool,
    ) -> Result<(Broker, Vec<(String, u16)>), HarnessError> {
        let kind = BrokerKind::Mosquitto;
        let (exe, version) = mosquitto_exe()?;
        let dir = temp_dir(kind)?;
        let mut ports: Vec<(String, u16)> = Vec::new();
        let mut conf = String::new();
        let mut rest = template;
        while let Some(at) = rest.find("{port:") {
            conf.push_str(&rest[..at]);
            let after = &rest[at + "{port:".len()..];
            let end = after.find('}').ok_or_else(|| HarnessError::Usage {
                reason: "a `{port:` without its `}`".into(),
            })?;
            let name = &after[..end];
            let port = match ports.iter().find(|(n, _)| n == name) {
                Some((_, port)) => *port,
                None => {
                    let port = free_port()?;
                    ports.push((name.to_string(), port));
                    port
                }
            };
            conf.push_str(&port.to_string());
            rest = &after[end + 1..];
        }
        conf.push_str(rest);
        let conf = conf.replace("{dir}", &dir.path().display().to_string());
        let first = ports
            .first()
            .map(|(_, p)| *p)
            .ok_or_else(|| HarnessError::Usage {
                reason: "no `{port:NAME}` listener".into(),
            })?;
        // mosquitto started as root drops to user `mosquitto`, which cannot
        // read our temp dir: stay root.
        let user = if conf.lines().any(|l| l.trim_start().starts_with("user ")) {
            ""
        // SAFETY: geteuid(2) reads a process attribute and cannot fail.
        } else if unsafe { libc::geteuid() } == 0 {
            "user root\n"
        } else {
            ""
        };
        let conf_path = dir.path().join("mosquitto.conf");
        write(&conf_path, &format!("{user}{conf}\n"))?;
        let command = vec![
            exe.to_string(),
            "-c".into(),
            conf_path.display().to_string(),
        ];
        let mut broker = Broker {
            kind,
            port: first,
            ports: ports.iter().map(|(_, p)| *p).collect(),
            version,
            dir,
            child: None,
            epmd: None,
            command,
            env: Vec::new(),
            ready_line: None,
            ws_port: None,
        };
        if start {
            broker.spawn()?;
        }
        Ok((broker, ports))
    }

    /// aedes (npm) behind `tests/brokers/aedes/server.mjs`.
    pub fn aedes() -> Result<Broker, HarnessError> {
        let kind = BrokerKind::Aedes;
        let root = tests_dir().join("brokers/aedes");
        let package = root.join("node_modules/aedes/package.json");
        let json = fs::read_to_string(&package).map_err(|e| {
            unavailable(
                kind,
                &format!(
                    "{}: {e} (run scripts/setup-system-tests.sh)",
                    package.display()
                ),
            )
        })?;
        let version = json_version(&json).unwrap_or_else(|| "unknown".into());
        let dir = temp_dir(kind)?;
        let port = free_port()?;
        let command = vec![
            "node".into(),
            root.join("server.mjs").display().to_string(),
            port.to_string(),
        ];
        Broker::launch(kind, port, version, dir, command, Vec::new(), None)
    }

    /// amqtt (PyPI) from the venv `tests/.venv-amqtt`.
    pub fn amqtt() -> Result<Broker, HarnessError> {
        let kind = BrokerKind::Amqtt;
        let exe = tests_dir().join(".venv-amqtt/bin/amqtt");
        if !exe.exists() {
            return Err(unavailable(
                kind,
                &format!(
                    "{} is missing (run scripts/setup-system-tests.sh)",
                    exe.display()
                ),
            ));
        }
        let version =
            first_line(Command::new(&exe).arg("--version")).unwrap_or_else(|| "unknown".into());
        let dir = temp_dir(kind)?;
        let port = free_port()?;
        let conf = format!(
            "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n\
             plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        );
        let conf_path = dir.path().join("amqtt.yaml");
        write(&conf_path, &conf)?;
        let command = vec![
            exe.display().to_string(),
            "-c".into(),
            conf_path.display().to_string(),
        ];
        Broker::launch(kind, port, version, dir, command, Vec::new(), None)
    }

    /// Debian's RabbitMQ with the `rabbitmq_mqtt` plugin: its own node name,
    /// ports, epmd, config, database and logs, all under a temp dir.
    pub fn rabbitmq() -> Result<Broker, HarnessError> {
        let kind = BrokerKind::RabbitMq;
        if !Path::new(RABBITMQ_SERVER).exists() {
            return Err(unavailable(
                kind,
                "rabbitmq-server is not installed (run scripts/setup-system-tests.sh)",
            ));
        }
        let version = first_line(Command::new("dpkg-query").args([
            "-W",
            "-f",
            "${Version}",
            "rabbitmq-server",
        ]))
        .unwrap_or_else(|| "unknown".into());
        let dir = temp_dir(kind)?;
        let d = dir.path();
        for sub in ["home", "mnesia", "log"] {
            fs::create_dir_all(d.join(sub)).map_err(HarnessError::io("creating rabbitmq dirs"))?;
        }
        let (port, amqp, dist, epmd_port) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        write(
            &d.join("rabbitmq.conf"),
            &format!(
                "listeners.tcp.default = 127.0.0.1:{amqp}\n\
                 mqtt.listeners.tcp.default = 127.0.0.1:{port}\n\
                 mqtt.allow_anonymous = true\nloopback_users = none\n"
            ),
        )?;
        write(&d.join("enabled_plugins"), "[rabbitmq_mqtt].\n")?;
        // Our own epmd on a private port, so that nothing leaks past the test
        // and no other node on the machine is disturbed.
        let epmd = Command::new("epmd")
            .args(["-port", &epmd_port.to_string(), "-address", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| unavailable(kind, &format!("epmd: {e}")))?;
        let p = |sub: &str| d.join(sub).display().to_string();
        let env = vec![
            ("HOME".into(), p("home")),
            ("ERL_EPMD_PORT".into(), epmd_port.to_string()),
            ("ERL_EPMD_ADDRESS".into(), "127.0.0.1".into()),
            (
                "RABBITMQ_NODENAME".into(),
                format!("midge{}x{port}@localhost", std::process::id()),
            ),
            ("RABBITMQ_NODE_IP_ADDRESS".into(), "127.0.0.1".into()),
            ("RABBITMQ_NODE_PORT".into(), amqp.to_string()),
            ("RABBITMQ_DIST_PORT".into(), dist.to_string()),
            ("RABBITMQ_CONFIG_FILE".into(), p("rabbitmq")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE".into(), p("enabled_plugins")),
            ("RABBITMQ_MNESIA_BASE".into(), p("mnesia")),
            ("RABBITMQ_LOG_BASE".into(), p("log")),
            ("RABBITMQ_LOGS".into(), "-".into()),
        ];
        let command = vec![RABBITMQ_SERVER.to_string()];
        Broker::launch(kind, port, version, dir, command, env, Some(epmd))
    }

    fn launch(
        kind: BrokerKind,
        port: u16,
        version: String,
        dir: tempfile::TempDir,
        command: Vec<String>,
        env: Vec<(String, String)>,
        epmd: Option<Child>,
    ) -> Result<Broker, HarnessError> {
        let mut broker = Broker {
            kind,
            port,
            ports: vec![port],
            version,
            dir,
            child: None,
            epmd,
            command,
            env,
            ready_line: None,
            ws_port: None,
        };
        broker.spawn()?;
        Ok(broker)
    }

    /// moquette (Maven Central) run by `tests/brokers/moquette`'s launcher:
    /// TCP and WebSocket listeners, in-memory store, telemetry off.
    pub fn moquette() -> Result<Broker, HarnessError> {
        let kind = BrokerKind::Moquette;
        let (classpath, version) = maven_classpath(kind, "moquette", "moquette-broker")?;
        let dir = temp_dir(kind)?;
        let (port, ws) = (free_port()?, free_port()?);
        let d = dir.path();
        // telemetry_enabled: moquette 0.17 reports usage by default; nothing
        // may leave loopback. allow_zero_byte_client_id: MQTT-3.1.3-6.
        write(
            &d.join("moquette.conf"),
            &format!(
                "host 127.0.0.1\nport {port}\nwebsocket_port {ws}\nallow_anonymous true\n\
                 allow_zero_byte_client_id true\npersistence_enabled false\n\
                 telemetry_enabled false\nuse_bugsnag false\nuse_metrics false\n\
                 netty.mqtt.message_size 1048576\nbuffer_flush_millis 0\n"
            ),
        )?;
        write(
            &d.join("log4j.properties"),
            "log4j.rootLogger=INFO, stdout\n\
             log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n\
             log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.stdout.layout.ConversionPattern=%d{HH:mm:ss.SSS} %-5p [%t] %c{1} - %m%n\n",
        )?;
        let mut command = java_command("256m");
        command.extend([
            format!(
                "-Dlog4j.configuration=file:{}",
                d.join("log4j.properties").display()
            ),
            "-cp".into(),
            classpath,
            "MidgeMoquette".into(),
            d.join("moquette.conf").display().to_string(),
        ]);
        Broker::launch_jvm(
            kind,
            port,
            ws,
            version,
            dir,
            command,
            "midge-moquette ready",
        )
    }

    /// HiveMQ CE embedded (Maven Central) run by `tests/brokers/hivemq`'s
    /// launcher: TCP and WebSocket listeners, in-memory persistence,
    /// anonymous usage statistics off, per-client queue sized for bursts.
    pub fn hivemq() -> Result<Broker, HarnessError> {
        let kind = BrokerKind::HiveMq;
        let (classpath, version) =
            maven_classpath(kind, "hivemq", "hivemq-community-edition-embedded")?;
        let dir = temp_dir(kind)?;
        let (port, ws) = (free_port()?, free_port()?);
        let d = dir.path();
        for sub in ["conf", "data", "extensions"] {
            fs::create_dir_all(d.join(sub)).map_err(HarnessError::io("creating hivemq dirs"))?;
        }
        // The default queue of 1,000 messages per client discards a burst.
        write(
            &d.join("conf/config.xml"),
            &format!(
                "<?xml version=\"1.0\"?>\n<hivemq>\n  <listeners>\n\
                 <tcp-listener><port>{port}</port><bind-address>127.0.0.1</bind-address></tcp-listener>\n\
                 <websocket-listener><port>{ws}</port><bind-address>127.0.0.1</bind-address>\
                 <path>/mqtt</path><subprotocols><subprotocol>mqtt</subprotocol></subprotocols>\
                 <allow-extensions>true</allow-extensions></websocket-listener>\n  </listeners>\n\
                 <anonymous-usage-statistics><enabled>false</enabled></anonymous-usage-statistics>\n\
                 <persistence><mode>in-memory</mode></persistence>\n\
                 <mqtt><queued-messages><max-queue-size>1000000</max-queue-size>\
                 <strategy>discard</strategy></queued-messages></mqtt>\n</hivemq>\n"
            ),
        )?;
        let mut command = java_command("512m");
        let p = |sub: &str| d.join(sub).display().to_string();
        command.extend([
            "-cp".into(),
            classpath,
            "MidgeHiveMq".into(),
            p("conf"),
            p("data"),
            p("extensions"),
        ]);
        Broker::launch_jvm(kind, port, ws, version, dir, command, "midge-hivemq ready")
    }

    /// Debian's ActiveMQ 5.17 (`activemq`), started by hand (no systemd)
    /// from an xbean config in a temp dir: in-memory store, no JMX, one
    /// `mqtt://` connector on loopback. Its MQTT transport needs the codec of
    /// `libmqtt-client-java` (without it the broker accepts TCP and never
    /// answers), linked into the instance's `lib/`.
    pub fn activemq() -> Result<Broker, HarnessError> {
        let kind = BrokerKind::ActiveMq;
        let missing = [ACTIVEMQ_JAR, MQTT_CLIENT_JAR]
            .into_iter()
            .find(|p| !Path::new(p).exists());
        if let Some(path) = missing {
            return Err(unavailable(
                kind,
                &format!("{path} is missing (run scripts/setup-system-tests.sh)"),
            ));
        }
        let version =
            first_line(Command::new("dpkg-query").args(["-W", "-f", "${Version}", "activemq"]))
                .unwrap_or_else(|| "unknown".into());
        let dir = temp_dir(kind)?;
        let d = dir.path();
        let port = free_port()?;
        for sub in ["lib", "data"] {
            fs::create_dir_all(d.join(sub)).map_err(HarnessError::io("creating activemq dirs"))?;
        }
        for jar in ["mqtt-client", "hawtdispatch", "hawtdispatch-transport"] {
            std::os::unix::fs::symlink(
                format!("/usr/share/java/{jar}.jar"),
                d.join(format!("lib/{jar}.jar")),
            )
            .map_err(HarnessError::io("linking the MQTT codec"))?;
        }
        let p = |sub: &str| d.join(sub).display().to_string();
        write(
            &d.join("activemq.xml"),
            &format!(
                "<beans xmlns=\"http://www.springframework.org/schema/beans\"\n\
                 xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n\
                 xsi:schemaLocation=\"http://www.springframework.org/schema/beans \
                 http://www.springframework.org/schema/beans/spring-beans.xsd \
                 http://activemq.apache.org/schema/core \
                 http://activemq.apache.org/schema/core/activemq-core.xsd\">\n\
                 <broker xmlns=\"http://activemq.apache.org/schema/core\" brokerName=\"midge\" \
                 persistent=\"false\" useJmx=\"false\" dataDirectory=\"{}\">\n\
                 <transportConnectors><transportConnector name=\"mqtt\" \
                 uri=\"mqtt://127.0.0.1:{port}\"/></transportConnectors>\n</broker>\n</beans>\n",
                p("data")
            ),
        )?;
        write(
            &d.join("log4j.properties"),
            "log4j.rootLogger=INFO, stdout\n\
             log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n\
             log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.stdout.layout.ConversionPattern=%d{HH:mm:ss.SSS} %-5p %c{1} - %m%n\n",
        )?;
        let mut command = java_command("256m");
        command.extend([
            format!("-Dlog4j.configuration=file:{}", p("log4j.properties")),
            "-Dactivemq.home=/usr/share/activemq".into(),
            format!("-Dactivemq.base={}", p("")),
            format!("-Dactivemq.conf={}", p("")),
            format!("-Dactivemq.data={}", p("data")),
            "-jar".into(),
            ACTIVEMQ_JAR.into(),
            "start".into(),
            format!("xbean:file:{}", p("activemq.xml")),
        ]);
        let mut broker = Broker {
            kind,
            port,
            ports: vec![port],
            version,
            dir,
            child: None,
            epmd: None,
            command,
            env: Vec::new(),
            ready_line: Some("Connector mqtt started"),
            ws_port: None,
        };
        broker.spawn()?;
        Ok(broker)
    }

    fn launch_jvm(
        kind: BrokerKind,
        port: u16,
        ws: u16,
        version: String,
        dir: tempfile::TempDir,
        command: Vec<String>,
        ready_line: &'static str,
    ) -> Result<Broker, HarnessError> {
        let mut broker = Broker {
            kind,
            port,
            ports: vec![port, ws],
            version,
            dir,
            child: None,
            epmd: None,
            command,
            env: Vec::new(),
            ready_line: Some(ready_line),
            ws_port: Some(ws),
        };
        broker.spawn()?;
        Ok(broker)
    }

    /// Start the process and wait until its port accepts connections.
    fn spawn(&mut self) -> Result<(), HarnessError> {
        let log = self.log_path();
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(HarnessError::io(format!("opening {}", log.display())))?;
        let err = out.try_clone().map_err(HarnessError::io("log file"))?;
        let mut cmd = Command::new(&self.command[0]);
        cmd.args(&self.command[1..])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            // aedes' server exits when its stdin closes: a piped stdin that
            // dies with us means no orphan even if the test aborts.
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| unavailable(self.kind, &format!("cannot run {}: {e}", self.command[0])))?;
        self.child = Some(child);
        let ports = self.ports.clone();
        let ready_line = self.ready_line;
        let mut exited = false;
        let ready = poll_until(self.kind.ready_within(), || {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                exited = true;
                return true;
            }
            ready_line.is_none_or(|line| {
                fs::read_to_string(&log)
                    .map(|t| t.contains(line))
                    .unwrap_or(false)
            }) && ports
                .iter()
                .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok())
        });
        if !ready || exited {
            let output = self.log_tail();
            self.kill();
            return Err(HarnessError::NotReady {
                broker: self.kind.to_string(),
                secs: self.kind.ready_within().as_secs(),
                output,
            });
        }
        Ok(())
    }

    /// `kill -9` the broker, then start it again on the same port with the
    /// same config (and persistence directory), and wait until it is ready.
    pub fn kill9_and_restart(&mut self) -> Result<(), HarnessError> {
        self.kill();
        self.spawn()
    }

    /// Start the broker again (after [`Broker::stop`] or [`Broker::kill9`], or
    /// the first time for one made stopped) on the same ports and config.
    pub fn start_again(&mut self) -> Result<(), HarnessError> {
        if let Some(Ok(None)) = self.child.as_mut().map(|c| c.try_wait()) {
            return Err(HarnessError::Usage {
                reason: "the broker is running already".into(),
            });
        }
        self.child = None;
        self.spawn()
    }

    /// SIGTERM the process group (a clean shutdown: mosquitto saves its
    /// persistence file) and wait for the broker to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(&child, libc::SIGTERM);
            let _ = child.wait();
        }
    }

    /// `kill -9` the broker (nothing saved) and reap it.
    pub fn kill9(&mut self) {
        self.kill();
    }

    /// The broker's own temp dir (config, log, persistence).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILL the whole process group and reap it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&child);
            let _ = child.wait();
        }
    }

    /// The broker's process id (for reading its CPU time), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The WebSocket URL (`ws://127.0.0.1:PORT/mqtt`), where the broker
    /// was started with a WebSocket listener.
    pub fn ws_url(&self) -> Option<String> {
        self.ws_port.map(|p| format!("ws://127.0.0.1:{p}/mqtt"))
    }

    /// The WebSocket listener's port, where the broker has one.
    pub fn ws_port(&self) -> Option<u16> {
        self.ws_port
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Which broker this is.
    pub fn kind(&self) -> BrokerKind {
        self.kind
    }

    /// Where the broker's stdout and stderr go.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    /// The last lines the broker wrote (for error messages and evidence).
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join(" | ")
    }

    /// Every line the broker logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        if let Some(mut epmd) = self.epmd.take() {
            kill_group(&epmd);
            let _ = epmd.wait();
        }
    }
}

fn kill_group(child: &Child) {
    signal_group(child, libc::SIGKILL);
}

fn signal_group(child: &Child, signal: libc::c_int) {
    // The child leads its own process group (process_group(0)).
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group; it
        // touches no memory of ours.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

/// Debian's mosquitto binary and its version.
fn mosquitto_exe() -> Result<(&'static str, String), HarnessError> {
    let exe = MOSQUITTO
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            unavailable(
                BrokerKind::Mosquitto,
                "mosquitto is not installed (apt-get install mosquitto)",
            )
        })?;
    let version = first_line(Command::new(exe).arg("-h"))
        .map(|l| l.trim_start_matches("mosquitto version ").to_string())
        .unwrap_or_else(|| "unknown".into());
    Ok((exe, version))
}

/// `java` with options for a small, quick-starting test broker.
fn java_command(heap: &str) -> Vec<String> {
    vec![
        "java".into(),
        format!("-Xmx{heap}"),
        "-XX:+UseSerialGC".into(),
        "-XX:TieredStopAtLevel=1".into(),
        "-Djava.net.preferIPv4Stack=true".into(),
    ]
}

/// The runnable classpath that `scripts/setup-system-tests.sh` built under
/// `tests/brokers/<name>` (`target/classes` + `target/classpath.txt`), and
/// the version of `artifact` in it (read off its jar's path).
fn maven_classpath(
    kind: BrokerKind,
    name: &str,
    artifact: &str,
) -> Result<(String, String), HarnessError> {
    let root = tests_dir().join("brokers").join(name);
    let listed = root.join("target/classpath.txt");
    let jars = fs::read_to_string(&listed).map_err(|e| {
        unavailable(
            kind,
            &format!(
                "{}: {e} (run scripts/setup-system-tests.sh)",
                listed.display()
            ),
        )
    })?;
    let jars = jars.trim();
    let version = jars
        .split(':')
        .find_map(|jar| {
            let rest = &jar[jar.find(&format!("/{artifact}/"))? + artifact.len() + 2..];
            Some(rest[..rest.find('/')?].to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Ok((
        format!("{}:{jars}", root.join("target/classes").display()),
        version,
    ))
}

fn unavailable(kind: BrokerKind, reason: &str) -> HarnessError {
    HarnessError::Unavailable {
        broker: kind.to_string(),
        reason: reason.to_string(),
    }
}

fn temp_dir(kind: BrokerKind) -> Result<tempfile::TempDir, HarnessError> {
    tempfile::Builder::new()
        .prefix(&format!("midge-{kind}-"))
        .tempdir()
        .map_err(HarnessError::io("creating a temp dir"))
}

fn write(path: &Path, text: &str) -> Result<(), HarnessError> {
    fs::write(path, text).map_err(HarnessError::io(format!("writing {}", path.display())))
}

fn first_line(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// The top-level `"version"` of a package.json, without a JSON parser.
fn json_version(json: &str) -> Option<String> {
    let rest = &json[json.find("\"version\"")? + "\"version\"".len()..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end].to_string())
}
