"""A Spark task (DESIGN §9) that reports what its session was built from and runs small jobs.

Its first attempt fails on a Spark error (a table that does not exist), so the second attempt
runs in the same task process after the first one's JVM was ended."""

from __future__ import annotations

import os

import retune as rt


@rt.task(
    retries=1,
    task_config=rt.Spark(
        spark_conf={"spark.sql.shuffle.partitions": "3", "spark.sql.session.timeZone": "Asia/Tokyo"}
    ),
)
def count_rows(n: int) -> dict[str, str]:
    context = rt.current_context()
    spark = context.spark
    print(f"attempt {context.attempt} in task process {os.getpid()}")
    if context.attempt == 1:
        spark.sql("SELECT * FROM no_such_table").collect()
    doubled = spark.sparkContext.parallelize(range(n), 2).map(lambda x: x * 2).sum()  # Python workers
    return {
        "rows": str(spark.range(n).count()),
        "doubled": str(doubled),
        "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "time_zone": spark.conf.get("spark.sql.session.timeZone"),
        "master": spark.sparkContext.master,
        "driver_host": spark.conf.get("spark.driver.host"),
        "ui": spark.conf.get("spark.ui.enabled"),
    }


@rt.workflow
def count_flow(n: int = 10) -> dict[str, str]:
    return count_rows(n=n).with_runtime_override("count")
