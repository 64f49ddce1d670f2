//! The suite on a 3-node JetStream cluster (streams at replicas 3), in the spirit of NATS's own
//! chaos tests: while reports flow, one node at a time is killed with SIGKILL and started again,
//! repeatedly; the services fail over between the members given in `nats.url`, and the books
//! balance afterwards (nothing lost, nothing doubled).

use std::time::Duration;

use civicgrid_dev::infra::{self, start_cluster};
use civicgrid_e2e::Suite;
use rand::{Rng, SeedableRng};

use crate::books::{check_books, submit_while};

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_node_killed_again_and_again_loses_nothing() {
    let binary = tokio::task::spawn_blocking(infra::nats::find_binary).await.unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster(&binary, dir.path(), 3).await.expect("a 3-node cluster");
    let urls: Vec<String> = nodes.iter().map(|n| n.url()).collect();
    let url = urls.join(",");
    let suite = tokio::task::spawn_blocking(move || {
        Suite::up_with_env(
            &["--no-demo", "--quiet"],
            &[("CIVICGRID__NATS__URL", url.as_str()), ("CIVICGRID__NATS__STREAM_REPLICAS", "3")],
        )
    })
    .await
    .unwrap();
    let js = async_nats::jetstream::new(suite.nats().await);
    let replicas = js.get_stream("CIVICGRID_INTAKE").await.unwrap().info().await.unwrap().config.num_replicas;
    assert_eq!(replicas, 3);

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut killed = Vec::new();
    let accepted = submit_while(&suite, async {
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(rng.random_range(1000..2500))).await;
            let i = rng.random_range(0..nodes.len());
            nodes[i].kill();
            killed.push(format!("n{i}"));
            tokio::time::sleep(Duration::from_millis(rng.random_range(500..2000))).await;
            nodes[i].restart().await.expect("the node starts again");
        }
    })
    .await;
    check_books(&suite, &accepted, &format!("cluster nodes killed and restarted: {}", killed.join(", "))).await;
}
