#!/usr/bin/env bash
# `make demo`: the main example DAG, run by Airflow against the local job API, in a throwaway
# AIRFLOW_HOME on SQLite. Shows each poke and the final XCom, then stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${VENV:-.venv}/bin
port=${JOB_API_PORT:-8088}
home=$(mktemp -d -t httsleep-demo-XXXXXX)
export AIRFLOW_HOME=$home
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER=$PWD/example_dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$PWD/example_plugins
export AIRFLOW_CONN_JOB_API="{\"conn_type\": \"httsleep\", \"host\": \"http://127.0.0.1:$port\"}"

"$bin/python" -m httsleep_airflow.testing.jobapi --port "$port" --polls 3 >"$home/jobapi.log" 2>&1 &
api=$!
trap 'kill "$api" 2>/dev/null || true; wait "$api" 2>/dev/null || true; rm -rf "$home"' EXIT
for _ in $(seq 50); do
  grep -q listening "$home/jobapi.log" 2>/dev/null && break
  kill -0 "$api" 2>/dev/null || { cat "$home/jobapi.log"; echo "the job API did not start (is port $port free? set JOB_API_PORT)"; exit 1; }
  sleep 0.1
done
echo "== job API on http://127.0.0.1:$port; Airflow home $home"
"$bin/airflow" db migrate >"$home/migrate.log" 2>&1 || { cat "$home/migrate.log"; exit 1; }
echo "== airflow dags test example_httsleep_job"
set +e
"$bin/airflow" dags test example_httsleep_job >"$home/run.log" 2>&1
status=$?
set -e
# The lines that tell the story: each poke, the XCom the sensor pushed, the outcome.
grep -E "poke [0-9]+/|the job's result is at|Done. Returned value was|DagRun Finished" "$home/run.log" \
  | sed -E 's/^[^]]*\] +//; s/ +\[[^]]*\] +loc=.*$//; s/(DagRun Finished: dag_id=[^,]*).*(state=[a-z_]+).*/\1, \2/' \
  || true
if [ "$status" -ne 0 ]; then
  echo "== the run failed; its log:"; cat "$home/run.log"; exit "$status"
fi
echo "== demo finished: the job API and the Airflow home are cleaned up"
