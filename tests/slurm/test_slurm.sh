#!/usr/bin/env bash
# ksi on a real Slurm: installs Slurm, munge and MariaDB from Debian when missing, starts a one-node
# cluster (munged, mariadbd, slurmdbd, slurmctld, slurmd) in a temporary folder, and through it
#   1. submits the pipeline of inputs/pipeline-smoke.cfg with jobs/submit-pipeline.sh (four jobs chained
#      with afterok), waits, and checks that sacct reports every job COMPLETED, that srun started ksi as
#      one MPI job, and the outputs: shapes, counts, sample ids, ksi info, the stats reports, and the
#      model and samples equal (bitwise) to the same stages run outside Slurm;
#   2. runs the sample stage again with the mpirun launcher (the documented fallback) and checks that
#      it gives the same bytes;
#   3. submits a three-task parameter sweep (jobs/submit-sweep.sh: synth, array job, summary) and
#      checks every task's model and samples against its task line;
#   4. submits a fit whose time limit cuts it off (--time=1 --signal=B:USR1@20, sized from a measured
#      fit rate to need about 50 s), then a follow-up with --dependency=afterany that resumes it and an
#      uninterrupted reference, and checks the interruption (exit 75 after a checkpoint), the
#      resumption, and that eta equals the reference bitwise;
#   5. runs a small scaling study inside an allocation (jobs/scaling.sbatch) and checks its CSV and plot;
#   6. submits the same fit with --requeue and KSI_REQUEUE=1 (as submit-pipeline.sh does): stopped by
#      USR1 to its batch shell (scancel --batch --signal), it requeues itself (scontrol requeue) and
#      resumes from its checkpoint until it completes, and eta equals the uninterrupted reference of 4
#      bitwise;
#   7. checks exit code 6 inside an allocation of 2 tasks: ksi launched on 1 rank (mpirun -n 1) and as
#      2 singletons (srun --mpi=none) stops with 6 and says why; KSI_IGNORE_SLURM_NTASKS lets it run.
# The daemons it started are stopped by their process ids on every exit path.
#   test_slurm.sh KSI_BINARY SOURCE_DIR SCRATCH_DIR
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
source "$src/tests/slurm/slurm_cluster.sh"
rm -rf "$work" && mkdir -p "$work" || exit 1
work=$(cd "$work" && pwd)

cluster_dir=$(mktemp -d /tmp/ksi-slurm.XXXXXX) || exit 1
on_exit() {
  local status=$?
  [ $status -ne 0 ] && slurm_cluster_logs
  slurm_cluster_stop
  rm -rf "$cluster_dir"
  exit $status
}
trap on_exit EXIT
trap 'exit 143' TERM INT HUP

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else fail "$what"; fi
}
show_logs() { for f in "$@"; do echo "----- $f"; cat "$f"; done; }

# Where no cluster can be had (no root, no package mirror, daemons that cannot start here) the test
# is skipped, with the reason: exit code 77, CTest's SKIP_RETURN_CODE.
slurm_install_packages || { echo "SKIP: could not install Slurm, munge and MariaDB (needs root and a Debian mirror)"; exit 77; }
slurm_cluster_start "$cluster_dir" || { echo "SKIP: a one-node Slurm cluster could not be started here (logs above)"; exit 77; }
export KSI=$ksi KSI_ROOT=$src
run_local() { "$MPIEXEC" -n "$1" --oversubscribe "${@:2}"; }

# ---------------------------------------------------------------------------------------------------
# 1. The pipeline: synth -> fit -> sample -> stats, chained with afterok.
pipeline=$work/pipeline
mapfile -t jobs < <(bash "$src/jobs/submit-pipeline.sh" --dir "$pipeline" \
                      "$src/inputs/pipeline-smoke.cfg" | awk '{print $2}')
[ ${#jobs[@]} -eq 4 ] || { echo "FAIL: submit-pipeline.sh did not submit four jobs"; exit 1; }
echo "pipeline jobs: ${jobs[*]}"
if ! slurm_wait_jobs 300 "${jobs[@]}"; then
  show_logs "$pipeline"/logs/*
  echo "FAIL: the pipeline did not finish in 300 s"
  exit 1
fi
stage=0
for name in synth fit sample stats; do
  state=$(slurm_job_state "${jobs[$stage]}")
  check "sacct: $name job ${jobs[$stage]} $state" [ "$state" = COMPLETED ]
  stage=$((stage + 1))
done
sacct -j "$(IFS=,; echo "${jobs[*]}")" -o JobID,JobName,State,ExitCode,Elapsed,NTasks
[ $failures -eq 0 ] || show_logs "$pipeline"/logs/*
check "the parallel stages ran through srun with Slurm's MPI plugin" \
  grep -q "srun --mpi=pmi" "$pipeline/logs/ksi-fit-${jobs[1]}.out"
check "the stats step wrote its JSON, Q table and PNG report" \
  test -s "$pipeline/stats/stats.json" -a -s "$pipeline/stats/stats_q.csv" -a -s "$pipeline/stats/stats.png"
check "ksi info reads every output" bash -c "\"\$0\" info \"\$@\" >/dev/null" "$ksi" "$pipeline"/{train,test,model,samples}.h5

# The same stages outside Slurm, on one rank: the results must not depend on the launcher or the ranks.
(
  cd "$work" || exit 1
  run_local 1 "$ksi" fit -q --config "$pipeline/fit.cfg" --data "$pipeline/train.h5" --out model_local.h5 &&
    run_local 1 "$ksi" sample -q --config "$pipeline/sample.cfg" --model "$pipeline/model.h5" \
      --out samples_local.h5
) || fail "the local reference runs"
$PY - "$pipeline" "$work" <<'PY' || fail "pipeline outputs"
import json, sys, h5py, numpy as np
run, work = sys.argv[1], sys.argv[2]
bad = []
def expect(condition, message):
    print(("ok: " if condition else "FAIL: ") + message)
    if not condition: bad.append(message)
train = h5py.File(f"{run}/train.h5")["fields"][:]
test = h5py.File(f"{run}/test.h5")["fields"][:]
expect(train.shape == (2000, 2), f"train.h5 holds 2000 items of dimension 2 (has {train.shape})")
expect(test.shape == (500, 2), f"test.h5 holds 500 items of dimension 2 (has {test.shape})")
expect(not np.array_equal(train[:500], test), "the test set is not the training set")
model = h5py.File(f"{run}/model.h5")
expect(model["eta"].shape == (9, 128), f"model eta is T x P = 9 x 128 (has {model['eta'].shape})")
expect(int(model.attrs["mpi_ranks"]) == 2, "the model was fitted on 2 ranks")
local = h5py.File(f"{work}/model_local.h5")
expect(np.array_equal(model["eta"][:], local["eta"][:]), "eta on 2 Slurm ranks == eta on 1 local rank (bitwise)")
samples = h5py.File(f"{run}/samples.h5")
expect(samples["fields"].shape == (300, 2), f"samples.h5 holds 300 samples (has {samples['fields'].shape})")
expect(np.array_equal(samples["sample_ids"][:], np.arange(300)), "sample ids are 0..299")
expect(samples["fields"][:].tobytes() == h5py.File(f"{work}/samples_local.h5")["fields"][:].tobytes(),
       "samples on 2 Slurm ranks == samples on 1 local rank (byte-identical)")
expect(np.isfinite(samples["fields"][:]).all(), "samples are finite")
fit = json.load(open(f"{run}/reports/fit.json"))
expect(fit["ranks"] == 2 and fit["items"] == 2000 and fit["times"] == 9, "reports/fit.json: 2 ranks, 2000 items, 9 times")
expect("fit.reduce" in fit["phases"] and "fit.solve" in fit["phases"], "reports/fit.json has per-phase timings")
sample = json.load(open(f"{run}/reports/sample.json"))
expect(sample["ranks"] == 2 and sample["samples"] == 300, "reports/sample.json: 2 ranks, 300 samples")
sys.exit(1 if bad else 0)
PY

# ---------------------------------------------------------------------------------------------------
# 2. The mpirun fallback: the sample stage again, launched by Open MPI's mpirun inside the allocation.
fallback=$work/fallback
mkdir -p "$fallback/logs" && cp "$pipeline/pipeline.cfg" "$fallback/" && ln -s "$pipeline/model.h5" "$fallback/model.h5"
job=$(sbatch --parsable --ntasks=2 --time=5 --output="$fallback/logs/%x-%j.out" \
        --export=ALL,KSI_LAUNCHER=mpirun "$src/jobs/sample.sbatch" "$fallback")
slurm_wait_jobs 120 "$job" || fail "the mpirun sample job did not finish"
check "sacct: mpirun sample job $job COMPLETED" [ "$(slurm_job_state "$job")" = COMPLETED ]
check "the fallback job launched with mpirun" grep -q "ksi-job: mpirun -n 2" "$fallback"/logs/*.out
check "samples through mpirun == samples through srun (byte-identical)" \
  $PY -c "import h5py,sys; a,b=(h5py.File(f)['fields'][:] for f in sys.argv[1:]); sys.exit(a.tobytes()!=b.tobytes())" \
  "$pipeline/samples.h5" "$fallback/samples.h5"
[ $failures -eq 0 ] || show_logs "$fallback"/logs/*

# ---------------------------------------------------------------------------------------------------
# 3. A parameter sweep: synth, an array job of three fit + sample tasks, a summary job (afterany).
sweep=$work/sweep
mapfile -t jobs < <(bash "$src/jobs/submit-sweep.sh" --dir "$sweep" "$src/inputs/pipeline-smoke.cfg" \
                      "$src/inputs/sweep-smoke.tasks" | awk '{print $2}')
[ ${#jobs[@]} -eq 3 ] || { echo "FAIL: submit-sweep.sh did not submit three jobs"; exit 1; }
slurm_wait_jobs 300 "${jobs[@]}" || fail "the sweep did not finish in 300 s"
for task in 0 1 2; do
  check "sacct: array task ${jobs[1]}_$task COMPLETED" [ "$(slurm_job_state "${jobs[1]}_$task")" = COMPLETED ]
done
check "sacct: summary job ${jobs[2]} COMPLETED" [ "$(slurm_job_state "${jobs[2]}")" = COMPLETED ]
$PY - "$sweep" <<'PY' || fail "sweep outputs"
import csv, sys, h5py
run = sys.argv[1]
rows = list(csv.DictReader(open(f"{run}/sweep.csv")))
want = [(64, 9, 300, 16), (96, 5, 300, 16), (128, 9, 100, 8)]  # P, T, samples, steps per task line
bad = len(rows) != 3
for row, (P, T, n, steps) in zip(rows, want):
    got = (int(row["features"]), int(row["times"]), int(row["samples"]), int(row["sample_steps"]))
    ok = row["status"] == "done" and got == (P, T, n, steps)
    print(("ok: " if ok else "FAIL: ") + f"task {row['task']}: P, T, samples, steps = {got}, want {(P, T, n, steps)}")
    bad |= not ok
sys.exit(1 if bad else 0)
PY
[ $failures -eq 0 ] || show_logs "$sweep"/logs/*

# ---------------------------------------------------------------------------------------------------
# 4. A fit cut off by its time limit, a follow-up that resumes it, and an uninterrupted reference.
# Slurm checks time limits on a 30 s tick, so with --time=1 --signal=B:USR1@20 the signal comes 10 to
# 40 s into the job. The fit is sized from a rate measured here to need at least 50 s on two ranks.
cut=$work/cutoff reference=$work/reference
mkdir -p "$cut/logs" "$reference/logs"
fit_options=(--features fourier --feature-params count=384,length_scale=1 --times 24 --draws 4 --seed 9)
run_local 1 "$ksi" fit -q "${fit_options[@]}" --data "$pipeline/train.h5" --out "$work/calibration.h5" \
  --report "$work/calibration.json" || { echo "FAIL: calibration fit"; exit 1; }
items=$($PY -c "
import json, sys
rate = json.load(open(sys.argv[1]))['item_draw_times_per_second']  # one rank
print(max(4000, int(50 * 2 * rate / (4 * 24))))" "$work/calibration.json")
echo "cut-off fit: $items items (50 s on 2 ranks at the measured rate, if 2 ranks were twice as fast)"
run_local 2 "$ksi" synth mixture -q --count "$items" --seed 4 --out "$cut/train.h5" || exit 1
cp "$cut/train.h5" "$reference/train.h5"
{
  echo "[synth]"
  echo "generator = mixture"
  echo "[fit]"
  printf '%s = %s\n' features fourier feature-params count=384,length_scale=1 times 24 draws 4 seed 9 \
    checkpoint-every 0
} | tee "$cut/pipeline.cfg" >"$reference/pipeline.cfg"

cut_job=$(sbatch --parsable --ntasks=2 --time=1 --signal=B:USR1@20 --output="$cut/logs/%x-%j.out" \
            --export=ALL,KSI_REQUEUE=0 "$src/jobs/fit.sbatch" "$cut")
resume_job=$(sbatch --parsable --ntasks=2 --time=10 --dependency="afterany:$cut_job" \
               --output="$cut/logs/%x-%j.out" "$src/jobs/fit.sbatch" "$cut")
reference_job=$(sbatch --parsable --ntasks=2 --time=10 --dependency="afterany:$resume_job" \
                  --output="$reference/logs/%x-%j.out" "$src/jobs/fit.sbatch" "$reference")
echo "cut-off job $cut_job, resume job $resume_job, reference job $reference_job"
slurm_wait_jobs 420 "$cut_job" "$resume_job" "$reference_job" || fail "the cut-off, resume and reference jobs did not finish"
sacct -j "$cut_job,$resume_job,$reference_job" -o JobID,JobName,State,ExitCode,Elapsed,Timelimit
cut_log=$cut/logs/ksi-fit-$cut_job.out resume_log=$cut/logs/ksi-fit-$resume_job.out
cut_state=$(sacct -n -X -P -j "$cut_job" -o State,ExitCode | head -1)
check "sacct: the cut-off job ended FAILED with ksi's exit code 75 ($cut_state)" [ "$cut_state" = "FAILED|75:0" ]
check "the batch shell received USR1 and forwarded it" grep -q "received SIGUSR1: asking ksi" "$cut_log"
check "ksi wrote its checkpoint and stopped" grep -q "checkpoint written to model.h5.checkpoint" "$cut_log"
check "sacct: resume job $resume_job COMPLETED" [ "$(slurm_job_state "$resume_job")" = COMPLETED ]
check "the follow-up resumed from the checkpoint" grep -q "fit: resuming from model.h5.checkpoint" "$resume_log"
check "sacct: reference job $reference_job COMPLETED" [ "$(slurm_job_state "$reference_job")" = COMPLETED ]
check "the checkpoint is gone once the model is written" [ ! -e "$cut/model.h5.checkpoint" ]
check "resumed eta == uninterrupted eta (bitwise), and the diagnostics" $PY -c "
import h5py, sys
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
same = a['eta'][:].tobytes() == b['eta'][:].tobytes()
same &= all(a['diagnostics'][k][:].tobytes() == b['diagnostics'][k][:].tobytes() for k in a['diagnostics'])
print('eta', a['eta'].shape, 'bitwise equal:', same)
sys.exit(0 if same else 1)" "$cut/model.h5" "$reference/model.h5"
[ $failures -eq 0 ] || show_logs "$cut"/logs/* "$reference"/logs/*

# ---------------------------------------------------------------------------------------------------
# 5. The scaling study inside an allocation (jobs/scaling.sbatch), with inputs/scaling.cfg's layout at
#    small sizes: every point a job step, one CSV, one plot, results bitwise those of one rank.
study=$work/scaling
sed -e 's/^items = .*/items = 2048/' -e 's/^samples = .*/samples = 512/' \
    -e 's/^items-per-rank = .*/items-per-rank = 1024/' -e 's/^samples-per-rank = .*/samples-per-rank = 256/' \
    -e 's/^repeats = .*/repeats = 1/' "$src/inputs/scaling.cfg" >"$work/scaling-small.cfg"
job=$(sbatch --parsable --ntasks=2 --time=10 --output="$work/scaling-%j.out" "$src/jobs/scaling.sbatch" \
        --config "$work/scaling-small.cfg" --ranks 1,2 --out "$study")
slurm_wait_jobs 300 "$job" || fail "the scaling job did not finish"
check "sacct: scaling job $job COMPLETED" [ "$(slurm_job_state "$job")" = COMPLETED ]
check "the scaling job launched its points with srun" grep -q "srun --mpi=pmi.* --ntasks=2 " "$work/scaling-$job.out"
check "scaling.csv has the 8 points (strong/weak x fit/sample x 1, 2 ranks), all bitwise as on 1 rank" $PY -c "
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys = sorted((r['mode'], r['stage'], r['ranks']) for r in rows)
want = sorted((m, s, r) for m in ('strong', 'weak') for s in ('fit', 'sample') for r in ('1', '2'))
same = all(r['same_bits_as_1_rank'] == 'True' for r in rows if r['mode'] == 'strong')
eff = all(0 < float(r['efficiency']) <= 1.5 for r in rows)
print(keys == want, same, eff)
sys.exit(0 if keys == want and same and eff else 1)" "$study/scaling.csv"
check "scaling.png was drawn" [ -s "$study/scaling.png" ]
[ $failures -eq 0 ] || show_logs "$work/scaling-$job.out"


# ---------------------------------------------------------------------------------------------------
# 6. Requeue: the fit of 4 again, stopped by USR1 to its batch shell (what the time limit's --signal
#    does in 4; sent here with scancel once the fit is under way, so the test does not wait for a
#    time limit) and requeued by its own job script (KSI_REQUEUE=1, at most KSI_MAX_REQUEUES times)
#    until it completes.
requeue=$work/requeue
mkdir -p "$requeue/logs" && cp "$cut/pipeline.cfg" "$cut/train.h5" "$requeue/"
requeue_job=$(sbatch --parsable --requeue --ntasks=2 --time=10 --signal=B:USR1@20 \
                --output="$requeue/logs/%x-%j.out" --export=ALL,KSI_REQUEUE=1,KSI_MAX_REQUEUES=8 \
                "$src/jobs/fit.sbatch" "$requeue")
echo "requeue job $requeue_job"
requeue_log=$requeue/logs/ksi-fit-$requeue_job.out
deadline=$((SECONDS + 120))
until grep -q "starting from the beginning" "$requeue_log" 2>/dev/null || [ $SECONDS -ge $deadline ]; do
  sleep 1
done
sleep 8  # into the fit's first chunks
scancel --batch --signal=USR1 "$requeue_job" || fail "scancel --batch --signal=USR1 $requeue_job"
# The restart is released from Slurm's hold at once.
slurm_release_requeues 600 "$requeue_job" || fail "the requeue job $requeue_job was not requeued, or did not finish, in 600 s"
slurm_wait_jobs 300 "$requeue_job" || fail "the requeued fit did not finish"
sacct -j "$requeue_job" -D -o JobID,JobName,State,ExitCode,Elapsed,Start,End
check "sacct: the requeued job $requeue_job COMPLETED" [ "$(slurm_job_state "$requeue_job")" = COMPLETED ]
check "the job was cut off and requeued itself at least once" grep -q "requeueing job $requeue_job (restart 1 of at most 8)" "$requeue_log"
check "ksi wrote its checkpoint before the requeue" grep -q "checkpoint written to model.h5.checkpoint" "$requeue_log"
check "the requeued run resumed from the checkpoint" grep -q "fit: resuming from model.h5.checkpoint at time" "$requeue_log"
check "the checkpoint is gone once the model is written" [ ! -e "$requeue/model.h5.checkpoint" ]
check "requeued and resumed eta == uninterrupted eta (bitwise)" $PY -c "
import h5py, sys
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
sys.exit(0 if a['eta'][:].tobytes() == b['eta'][:].tobytes() else 1)" "$requeue/model.h5" "$reference/model.h5"
[ $failures -eq 0 ] || show_logs "$requeue"/logs/*

# ---------------------------------------------------------------------------------------------------
# 7. Exit code 6 inside an allocation of 2 tasks.
job=$(sbatch --parsable --ntasks=2 --time=5 --output="$work/exit6-%j.out" --wrap "
  mpirun -n 1 $ksi info --help >/dev/null; echo one-rank-exit=\$?
  KSI_IGNORE_SLURM_NTASKS=1 mpirun -n 1 $ksi info --help >/dev/null; echo ignored-exit=\$?
  srun --mpi=none --ntasks=2 $ksi info --help >/dev/null; echo singletons-exit=\$?")
slurm_wait_jobs 120 "$job" || fail "the exit-code-6 job did not finish"
cat "$work/exit6-$job.out"
check "mpirun -n 1 in a 2-task allocation: exit 6" grep -q "^one-rank-exit=6" "$work/exit6-$job.out"
check "... with the reason" grep -q "MPI reports 1 rank(s) but SLURM_NTASKS is 2" "$work/exit6-$job.out"
check "KSI_IGNORE_SLURM_NTASKS: exit 0" grep -q "^ignored-exit=0" "$work/exit6-$job.out"
# Two singletons under srun --mpi=none: ksi refuses them with exit 6 where MPI_Init lets them start;
# Debian's Open MPI already refuses a direct launch without PMI inside MPI_Init (exit 1). Either way the
# job must not run as two independent one-rank jobs.
check "srun --mpi=none (2 singletons): refused (non-zero exit)" grep -qE "^singletons-exit=[1-9]" "$work/exit6-$job.out"

finish
