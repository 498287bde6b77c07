//! Two homes behind NAT routers and a bit of internet, made of network namespaces, for testing
//! what crosses real routers (verified recipe in `shared/TESTING.md`). Needs root, `ip`
//! (iproute2), `nft` (nftables) and, for router A's UPnP IGD and NAT-PMP/PCP server,
//! `miniupnpd` (miniupnpd-nftables); `scripts/test` installs them.
//!
//! ```text
//!  home A 10.1.0.0/24                    "internet" 11.71.0.0/24               home B 10.2.0.0/24
//!  a1 .11 ─┐                                                                   ┌─ b1 .11
//!          ├─ lan ─ router A ─ wan .2 ──── bridge ──── wan .3 ─ router B ─ lan ─┘
//!  a2 .12 ─┘        (NAT, firewall,          │           (NAT, firewall,
//!                    miniupnpd)         server .10        no port mapping)
//! ```
//!
//! The routers masquerade their homes and drop unsolicited traffic from the internet, as home
//! routers do; only router A answers UPnP and NAT-PMP/PCP. The "internet" is a block that is
//! not reserved (miniupnpd refuses reserved ones as external addresses); that is safe only
//! because nothing here links to the machine's own network namespace: every veth is created
//! inside the namespaces, and all of them are deleted when [`Homes`] is dropped, pass or fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A machine of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The first computer at home A.
    A1,
    /// The second computer at home A.
    A2,
    /// The computer at home B.
    B1,
    /// Home A's router (UPnP IGD and NAT-PMP/PCP).
    RouterA,
    /// Home B's router (no port mapping).
    RouterB,
    /// A server on the internet (for a relay server).
    Server,
    /// The internet's switch.
    Net,
}

impl Host {
    const ALL: [Host; 7] = [
        Host::Net,
        Host::RouterA,
        Host::RouterB,
        Host::A1,
        Host::A2,
        Host::B1,
        Host::Server,
    ];

    fn suffix(self) -> &'static str {
        match self {
            Host::A1 => "a1",
            Host::A2 => "a2",
            Host::B1 => "b1",
            Host::RouterA => "ra",
            Host::RouterB => "rb",
            Host::Server => "srv",
            Host::Net => "net",
        }
    }

    /// Its address (the internet side, for routers).
    pub fn ip(self) -> &'static str {
        match self {
            Host::A1 => "10.1.0.11",
            Host::A2 => "10.1.0.12",
            Host::B1 => "10.2.0.11",
            Host::RouterA => "11.71.0.2",
            Host::RouterB => "11.71.0.3",
            Host::Server => "11.71.0.10",
            Host::Net => "",
        }
    }
}

/// The topology, torn down when dropped.
pub struct Homes {
    prefix: String,
    dir: PathBuf,
    made: Vec<String>,
    miniupnpd: Option<std::process::Child>,
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e} (install it: ./scripts/test does)"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Homes {
    /// Builds the two homes, their routers and the internet, with a private folder `dir` for
    /// configuration files. Panics with the failing command (after tearing down what was made).
    pub fn build(dir: &Path) -> Homes {
        std::fs::create_dir_all(dir).expect("a folder for the routers' files");
        let mut homes = Homes {
            prefix: format!("jw{}", std::process::id() % 100_000),
            dir: dir.to_owned(),
            made: Vec::new(),
            miniupnpd: None,
        };
        if let Err(e) = homes.make() {
            panic!("couldn't build the two homes (needs root, iproute2 and nftables): {e}");
        }
        homes
    }

    /// The namespace's name of `host`.
    pub fn ns(&self, host: Host) -> String {
        format!("{}{}", self.prefix, host.suffix())
    }

    fn ip(&self, host: Host, args: &[&str]) -> Result<String, String> {
        let ns = self.ns(host);
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    fn exec(&self, host: Host, program: &str, args: &[&str]) -> Result<String, String> {
        let ns = self.ns(host);
        let mut all = vec!["netns", "exec", ns.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A veth pair with one end in each namespace, created there (never in ours).
    fn wire(&self, a: Host, a_name: &str, b: Host, b_name: &str) -> Result<(), String> {
        let (na, nb) = (self.ns(a), self.ns(b));
        run(
            "ip",
            &[
                "link", "add", "name", a_name, "netns", &na, "type", "veth", "peer", "name",
                b_name, "netns", &nb,
            ],
        )?;
        Ok(())
    }

    fn nft(&self, host: Host, rules: &str) -> Result<(), String> {
        let file = self.dir.join(format!("{}.nft", host.suffix()));
        std::fs::write(&file, rules).map_err(|e| e.to_string())?;
        self.exec(host, "nft", &["-f", file.to_str().unwrap_or_default()])?;
        Ok(())
    }

    fn make(&mut self) -> Result<(), String> {
        for host in Host::ALL {
            let ns = self.ns(host);
            // A namespace left by a killed earlier run of this same pid is removed first.
            let _ = run("ip", &["netns", "del", &ns]);
            run("ip", &["netns", "add", &ns])?;
            self.made.push(ns);
            self.ip(host, &["link", "set", "lo", "up"])?;
        }
        // The internet: a bridge, the routers' and the server's links on it.
        self.ip(Host::Net, &["link", "add", "br0", "type", "bridge"])?;
        self.ip(Host::Net, &["link", "set", "br0", "up"])?;
        for (host, port) in [
            (Host::RouterA, "ra"),
            (Host::RouterB, "rb"),
            (Host::Server, "srv"),
        ] {
            let inside = if host == Host::Server { "eth0" } else { "wan" };
            self.wire(host, inside, Host::Net, port)?;
            self.ip(Host::Net, &["link", "set", port, "master", "br0", "up"])?;
            self.ip(
                host,
                &["addr", "add", &format!("{}/24", host.ip()), "dev", inside],
            )?;
            self.ip(host, &["link", "set", inside, "up"])?;
        }
        // The homes: a LAN bridge on each router, its computers on it.
        for (router, subnet, computers) in [
            (Host::RouterA, "10.1.0", &[Host::A1, Host::A2][..]),
            (Host::RouterB, "10.2.0", &[Host::B1][..]),
        ] {
            self.ip(router, &["link", "add", "lan", "type", "bridge"])?;
            self.ip(
                router,
                &["addr", "add", &format!("{subnet}.1/24"), "dev", "lan"],
            )?;
            self.ip(router, &["link", "set", "lan", "up"])?;
            for &computer in computers {
                let port = computer.suffix();
                self.wire(computer, "eth0", router, port)?;
                self.ip(router, &["link", "set", port, "master", "lan", "up"])?;
                self.ip(
                    computer,
                    &[
                        "addr",
                        "add",
                        &format!("{}/24", computer.ip()),
                        "dev",
                        "eth0",
                    ],
                )?;
                self.ip(computer, &["link", "set", "eth0", "up"])?;
                self.ip(
                    computer,
                    &["route", "add", "default", "via", &format!("{subnet}.1")],
                )?;
            }
            self.exec(router, "sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"])?;
            // NAT for the home, and a home router's firewall: nothing from the internet reaches
            // the router itself unless it asked for it.
            self.nft(
                router,
                r#"
table ip nat {
    chain post { type nat hook postrouting priority 100; oifname "wan" masquerade; }
}
table inet guard {
    chain input {
        type filter hook input priority 0;
        iifname "wan" ct state established,related accept
        iifname "wan" drop
    }
}
"#,
            )?;
        }
        Ok(())
    }

    /// Starts a real UPnP IGD and NAT-PMP/PCP server (miniupnpd) on router A.
    pub fn start_port_mapping(&mut self) {
        self.start_port_mapping_with(true);
    }

    /// Starts miniupnpd on router A (again), answering NAT-PMP/PCP and, if `upnp`, UPnP IGD.
    pub fn start_port_mapping_with(&mut self, upnp: bool) {
        if let Some(mut child) = self.miniupnpd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.exec(Host::RouterA, "nft", &["delete", "table", "inet", "filter"]);
        self.nft(
            Host::RouterA,
            r#"
table inet filter {
    chain forward { type filter hook forward priority 0; jump miniupnpd; }
    chain miniupnpd { }
    chain prerouting { type nat hook prerouting priority -100; jump prerouting_miniupnpd; }
    chain postrouting { type nat hook postrouting priority 100; jump postrouting_miniupnpd; }
    chain prerouting_miniupnpd { }
    chain postrouting_miniupnpd { }
}
"#,
        )
        .expect("miniupnpd's nftables chains");
        let conf = self.dir.join("miniupnpd.conf");
        std::fs::write(
            &conf,
            format!(
                "ext_ifname=wan\nlistening_ip=lan\nport=5000\nenable_natpmp=yes\nenable_upnp={}\n\
                 secure_mode=yes\nsystem_uptime=yes\nuuid=3f1c2a52-7d33-4b1e-9f07-6a2e5c1d8b11\n\
                 allow 1024-65535 10.1.0.0/24 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n",
                if upnp { "yes" } else { "no" }
            ),
        )
        .expect("miniupnpd.conf");
        let log = std::fs::File::create(self.dir.join("miniupnpd.log")).expect("a log file");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(Host::RouterA),
                "miniupnpd",
                "-d",
                "-f",
            ])
            .arg(&conf)
            .arg("-P")
            .arg(self.dir.join("miniupnpd.pid"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("miniupnpd starts (install miniupnpd-nftables: ./scripts/test does)");
        self.miniupnpd = Some(child);
        self.wait_for_miniupnpd(upnp);
    }

    /// Waits until router A's miniupnpd listens: NAT-PMP/PCP (UDP 5351) and, when enabled,
    /// UPnP (TCP 5000). A home router has long been up when someone hosts; without this, a
    /// host right after a restart asked before the daemon was bound, got "port unreachable"
    /// and fell back to its LAN address (seen once in CI).
    fn wait_for_miniupnpd(&mut self, upnp: bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let udp = self
                .exec(Host::RouterA, "ss", &["-Hlun"])
                .unwrap_or_default();
            let tcp = self
                .exec(Host::RouterA, "ss", &["-Hltn"])
                .unwrap_or_default();
            let pmp = udp.contains(":5351 ");
            let igd = !upnp || tcp.contains(":5000 ");
            if pmp && igd {
                return;
            }
            if let Some(Ok(Some(status))) = self.miniupnpd.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "miniupnpd exited ({status}); see {}",
                    self.dir.join("miniupnpd.log").display()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "miniupnpd didn't listen within 10 s (udp: {udp}, tcp: {tcp}); see {}",
                self.dir.join("miniupnpd.log").display()
            );
            // Polling a condition, not a guess at how long it takes.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Router A's whole nftables ruleset now: where miniupnpd keeps its port mappings (as
    /// DNAT rules to the LAN computer).
    pub fn mappings(&self) -> String {
        self.exec(Host::RouterA, "nft", &["list", "ruleset"])
            .unwrap_or_default()
    }

    /// Makes `router` drop `permille` ‰ of the packets it forwards, both ways, at random (as
    /// a bad home link does); 0 restores a clean link.
    pub fn set_loss(&self, router: Host, permille: u32) {
        let _ = self.exec(router, "nft", &["delete", "table", "ip", "lossy"]);
        if permille == 0 {
            return;
        }
        let rules = format!(
            "table ip lossy {{\n    chain forward {{\n        type filter hook forward priority 0;\n        numgen random mod 1000 < {permille} drop\n    }}\n}}\n"
        );
        if let Err(e) = self.nft(router, &rules) {
            panic!("couldn't make the link lossy: {e}");
        }
    }

    /// The kernel's TCP counters in `host`'s namespace (`/proc/net/snmp`'s `Tcp` and
    /// `/proc/net/netstat`'s `TcpExt`, by name: `RetransSegs`, `TCPTimeouts`, `TCPLossProbes`…),
    /// counted since the namespace was made. Empty if they can't be read.
    pub fn tcp_counters(&self, host: Host) -> std::collections::BTreeMap<String, u64> {
        let mut counters = std::collections::BTreeMap::new();
        for file in ["/proc/net/snmp", "/proc/net/netstat"] {
            let text = self.exec(host, "cat", &[file]).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            // Each group is a line of names followed by a line of values, both prefixed.
            for pair in lines.chunks(2) {
                let [names, values] = pair else { continue };
                let (Some(("Tcp" | "TcpExt", names)), Some((_, values))) =
                    (names.split_once(": "), values.split_once(": "))
                else {
                    continue;
                };
                for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
                    if let Ok(value) = value.parse() {
                        counters.insert(name.to_owned(), value);
                    }
                }
            }
        }
        counters
    }

    /// A command run on `host` (its network namespace).
    pub fn command(&self, host: Host, program: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(host)])
            .arg(program)
            .kill_on_drop(true);
        command
    }

    /// The folder of this topology's files (certificates, configuration, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Homes {
    fn drop(&mut self) {
        if let Some(mut child) = self.miniupnpd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting a namespace deletes its links, and so the veths' other ends.
        for ns in self.made.iter().rev() {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}
