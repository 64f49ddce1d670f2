//! A TCP proxy a test can cut, to take a dependency away from a service (PostgreSQL going
//! down) without stopping the server that other tests share.

use std::net::SocketAddr;

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// Forwards connections from its own port to `target` until cut. While cut, its port is
/// closed, so connecting is refused, as with a server that is down.
pub struct TcpProxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let first = TcpListener::bind("127.0.0.1:0").await.expect("proxy listener");
        let addr = first.local_addr().expect("proxy address");
        let (up, mut state) = watch::channel(true);
        tokio::spawn(async move {
            let mut listener = Some(first);
            loop {
                match &listener {
                    Some(l) => tokio::select! {
                        accepted = l.accept() => {
                            if let Ok((client, _)) = accepted {
                                tokio::spawn(forward(client, target, state.clone()));
                            }
                        }
                        changed = state.changed() => {
                            if changed.is_err() {
                                return;
                            }
                            if !*state.borrow() {
                                listener = None;
                            }
                        }
                    },
                    None => {
                        if state.changed().await.is_err() {
                            return;
                        }
                        if *state.borrow() {
                            listener = TcpListener::bind(addr).await.ok();
                        }
                    }
                }
            }
        });
        TcpProxy { addr, up }
    }

    /// A proxy in front of the server of PostgreSQL URL `url`, and `url` through the proxy.
    pub async fn for_url(url: &str) -> (TcpProxy, String) {
        let after = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let host_port = after.rsplit_once('@').map(|(_, h)| h).unwrap_or(after);
        let host_port = host_port.split(['/', '?']).next().unwrap_or(host_port);
        let target = tokio::net::lookup_host(host_port)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("cannot resolve {host_port}"));
        let proxy = TcpProxy::start(target).await;
        let via = url_via(url, proxy.addr());
        (proxy, via)
    }

    /// The proxy's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every open connection and closes the port.
    pub fn cut(&self) {
        let _ = self.up.send(false);
    }

    /// Opens the port and forwards new connections again.
    pub fn restore(&self) {
        let _ = self.up.send(true);
    }
}

/// Copies between `client` and `target` until either side closes or the proxy is cut.
async fn forward(mut client: TcpStream, target: SocketAddr, mut state: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = async {
            while state.changed().await.is_ok() {
                if !*state.borrow() {
                    return;
                }
            }
        } => {}
    }
}

/// `url` (a PostgreSQL URL) with its host and port replaced by `addr`.
pub fn url_via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (auth, after) = match rest.split_once('@') {
        Some((auth, after)) => (format!("{auth}@"), after),
        None => (String::new(), rest),
    };
    let path = after.find(['/', '?']).map(|i| &after[i..]).unwrap_or("");
    format!("{scheme}://{auth}{addr}{path}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_rerouted() {
        let addr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(super::url_via("postgres://u@h:5432/db?x=1", addr), "postgres://u@127.0.0.1:9/db?x=1");
        assert_eq!(super::url_via("postgres://h:5432", addr), "postgres://127.0.0.1:9");
    }
}
