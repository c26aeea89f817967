"""Stage-2 evaluation: metrics, video aggregation, evaluation groups, fusion, reports, the run scorer."""
