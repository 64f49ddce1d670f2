// SubmitEvent on intake from outside the bench: k6's gRPC client, the contract learnt by server
// reflection (no .proto files), each VU on its own connection sending its next report when the
// last is answered — the closed loop of `civicgrid-bench loop`'s own client, from a program
// that shares nothing with it but the server. Run by `civicgrid-bench loop` (phase "outside:
// k6 vs our client", docs/performance.md); by hand:
//
//   k6 run --no-usage-report -e TARGET=127.0.0.1:50051 -e VUS=32 -e SECS=15 -e RUN=abc \
//     -e SUMMARY=k6-summary.json bin/bench/k6/submit_event.js
//
// With -e PROTOSET=<file> (an encoded FileDescriptorSet of the contracts) it loads the contract
// from that file instead of asking intake: the bench's fallback when intake's reflection cannot
// describe every service it lists (k6 resolves them all, and fails the connection otherwise).
// A connection that fails aborts the test at once, so a failed attempt sends no report.
//
// Every report is a valid one the shipped routing sends to a department's webhook, as the
// bench's own (bin/bench/src/suite/drive.rs): item 03.01.002 (垃圾桶满溢) in grid
// 411602002001001, each at a place of its own so that intake merges none. The bench's lattice
// runs north from 33.58° N; this one runs south from 33.579° N, 111 m away, with the same
// 0.001° × 0.0012° (≈ 111 m) steps and 200 columns. Place g = ITER × VUS + (VU − 1) is unique
// per VU and iteration. The description carries `k6-<RUN>`: the bench finds k6's events by it
// on the bus, since only k6 sees their ids.

import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import grpc from 'k6/net/grpc';

const TARGET = __ENV.TARGET || '127.0.0.1:50051';
const VUS = parseInt(__ENV.VUS || '1', 10);
const SECS = parseInt(__ENV.SECS || '15', 10);
const RUN = __ENV.RUN || 'k6';
const SUMMARY = __ENV.SUMMARY || 'k6-summary.json';
const PROTOSET = __ENV.PROTOSET || '';

const ITEM = '03.01.002';
const GRID = '411602002001001';
const ORIGIN_LAT = 33.579;
const ORIGIN_LNG = 114.58;
const LAT_STEP = 0.001;
const LNG_STEP = 0.0012;
const COLUMNS = 200;

export const options = {
  vus: VUS,
  duration: `${SECS}s`,
  // The percentiles the bench prints for its own client, and the sample count.
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'max', 'count'],
  // A threshold that always holds, so that the summary has the SubmitEvent calls apart from
  // the reflection calls of each VU's connection (k6 times those as gRPC requests too).
  thresholds: { 'grpc_req_duration{call:submit}': ['max>=0'] },
};

// Answers by outcome: `accepted` counts every OK answer (as the bench's `accepted` does),
// `merged` those of them that joined an open event (should be none).
const accepted = new Counter('accepted');
const merged = new Counter('merged');
const refused = new Counter('refused');

const client = new grpc.Client();
if (PROTOSET) {
  // k6 loads contracts only in the init context.
  client.loadProtoset(PROTOSET);
}
let connected = false;
let warned = 0;

export default function () {
  if (!connected) {
    // Connected in the VU's first iteration (k6 allows no connection in the init context);
    // reflection asks intake for the contract once per VU.
    try {
      client.connect(TARGET, { plaintext: true, reflect: !PROTOSET, timeout: '10s' });
    } catch (e) {
      exec.test.abort(`connect: ${e}`);
    }
    connected = true;
  }
  const g = __ITER * VUS + (__VU - 1);
  const request = {
    request_id: `k6-${RUN}-${__VU}-${__ITER}`,
    source: 'EVENT_SOURCE_GRID_WORKER',
    item_code: ITEM,
    location: {
      point: {
        latitude: ORIGIN_LAT - Math.floor(g / COLUMNS) * LAT_STEP,
        longitude: ORIGIN_LNG + (g % COLUMNS) * LNG_STEP,
      },
      grid_code: GRID,
    },
    description: `垃圾桶满溢未及时清运 k6-${RUN}`,
    reporter: {
      name: '网格员',
      phone: `138${String(g % 100000000).padStart(8, '0')}`,
      account_id: `k6-gw-${__VU}`,
    },
  };
  const answer = client.invoke('civicgrid.v1.IntakeService/SubmitEvent', request, {
    timeout: '30s',
    tags: { call: 'submit' },
  });
  if (answer && answer.status === grpc.StatusOK) {
    accepted.add(1);
    if (answer.message && answer.message.merged) {
      merged.add(1);
    }
  } else {
    refused.add(1);
    // A few examples per VU on stderr, for the bench's error line.
    if (warned < 3) {
      warned += 1;
      const status = answer ? answer.status : 'no answer';
      const message = answer && answer.error ? JSON.stringify(answer.error) : '';
      console.warn(`SubmitEvent refused: status ${status} ${message}`);
    }
  }
}

// The summary as JSON for the bench (and nothing on stdout: the bench prints the figures).
export function handleSummary(data) {
  return { [SUMMARY]: JSON.stringify(data) };
}
