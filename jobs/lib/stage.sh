# What every pipeline stage script does first (sourced after launch.sh and config.sh):
#
#   ksi_stage_begin STAGE RUN_DIR
#
# checks the run folder, writes RUN_DIR/STAGE.cfg (the stage's ksi options, from RUN_DIR/pipeline.cfg),
# sets KSI_NTASKS (the allocation's task count; outside Slurm $KSI_NTASKS or 1) and enters RUN_DIR.
# Outputs are written atomically by ksi, so an output that exists is complete: a stage skips the
# outputs it finds, which makes requeued and resubmitted stages continue where they stopped.

ksi_stage_begin() {
  local stage=$1 run_dir=$2
  [ -n "$run_dir" ] || ksi_die "usage: sbatch jobs/$stage.sbatch RUN_DIR (see jobs/submit-pipeline.sh)"
  [ -f "$run_dir/pipeline.cfg" ] || ksi_die "$run_dir/pipeline.cfg not found (make the run with jobs/submit-pipeline.sh)"
  cd "$run_dir" || ksi_die "cannot enter $run_dir"
  ksi_cfg_check pipeline.cfg
  ksi_cfg_write_stage pipeline.cfg "$stage" "$stage.cfg"
  mkdir -p reports
  KSI_NTASKS=${SLURM_NTASKS:-${KSI_NTASKS:-1}}
  ksi_find_binary
  ksi_log "stage $stage of $(pwd) on $KSI_NTASKS rank(s), job ${SLURM_JOB_ID:-none}" \
          "(restart ${SLURM_RESTART_COUNT:-0}), $("$KSI" --version)"
}

# ksi_output_done FILE: true (with a message) when a previous run of this stage already wrote FILE.
ksi_output_done() {
  if [ -e "$1" ]; then
    ksi_log "$1 exists (written by an earlier run of this stage): kept"
    return 0
  fi
  return 1
}
