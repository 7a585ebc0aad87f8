/**
 * A {@link ReportSink.ReportSink} on a local directory.
 *
 * Layout: `<directory>/<key>.json` for reports, `<directory>/_not_found/<key>.json` for not-found records, or
 * `<key>.json.gz` for both with `gzip`. Every file is written to a temporary name in the same directory
 * (`.vt-harvest-tmp-<pid>-<random>`) and renamed into place, so killing the process at any instant leaves either no
 * record or a complete one; temporaries left by a process that is gone are removed when the next sink is made on the
 * directory.
 *
 * Only regular files are records: links, FIFOs, sockets and devices under a record's name are neither listed nor
 * opened. `_not_found` is never followed through a symbolic link (nor the directory itself with `refuseSymlink`).
 *
 * The directory supplies the primitives (`StorePrimitives`: find, read, write, remove, list records); the rules of
 * the contract come from `ReportSink.make`, the same for every store.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type { ReportKey } from "@vt-harvest/report-sink"
import { ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/fsPrimitives.js"

/**
 * The directory, plus the options every sink takes (`overwrite`, `gzip`, `readOnly`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends ReportSink.Options {
  /** The store directory; relative paths are resolved against the working directory when the sink is made. */
  readonly directory: string
  /**
   * Remove temporary files a killed run left behind (default true): those named with the pid of a process that is
   * gone, and those of earlier versions (no pid) once an hour old; never one of a live process. A sink opened
   * `readOnly` removes nothing whatever this says.
   */
  readonly removeStaleTemps?: boolean | undefined
  /**
   * Refuse a `directory` that is itself a symbolic link, at open and before every step (default false: the directory
   * the user named may be a link they made, to another disk say). Pass true for a sub-store under it, such as
   * `<out>/_analyses`, so that nothing is read or written through a link out of `<out>`. `_not_found` is never
   * followed through a link, whatever this says.
   */
  readonly refuseSymlink?: boolean | undefined
  /**
   * A directory `directory` lies below (the `<out>` of a sub-store `<out>/_relationships/<name>`): each directory
   * between the two is refused as a symbolic link too, at open and before every step, so that a link put in place of
   * `<out>/_relationships` while a run writes cannot lead its writes out of `<out>`. Not checked itself.
   */
  readonly within?: string | undefined
}

/**
 * The sub-directory holding not-found records ({@link StoreLayout.notFoundDirectory}).
 *
 * @since 0.1.0
 * @category models
 */
export const notFoundDirectory: string = StoreLayout.notFoundDirectory

/**
 * The file name of a report or not-found record: `<key>.json`, or `<key>.json.gz` with `gzip`
 * ({@link StoreLayout.fileName}).
 *
 * @since 0.1.0
 * @category utils
 */
export const fileName = (key: ReportKey.ReportKey, options?: { readonly gzip?: boolean | undefined }): string =>
  StoreLayout.fileName(key, options)

/**
 * Creates the directories if needed, removes temporaries left by a killed run, and returns the sink.
 *
 * With `readOnly` it creates and removes nothing: the directory must exist (a missing `_not_found` is an empty one),
 * and `put`, `putNotFound` and `checkWritable` fail. Call `checkWritable` on a sink that will write before spending
 * anything on reports: opening does not prove the directory takes files.
 *
 * A second process starting on a directory another one is writing to leaves that one's temporaries alone (they are
 * named with its pid, which is alive). Writers of one key in two processes at once still race: the last rename wins.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<ReportSink.Service, ReportSink.SinkError, FileSystem.FileSystem | Path.Path> = (options) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const primitives = yield* internal.make(fs, path, {
      directory: options.directory,
      gzip: options.gzip ?? false,
      removeStaleTemps: options.removeStaleTemps ?? true,
      readOnly: options.readOnly ?? false,
      refuseSymlink: options.refuseSymlink ?? false,
      within: options.within
    })
    return ReportSink.make(primitives, options)
  })

/**
 * {@link make} as a layer providing {@link ReportSink.ReportSink}; fails with a `SinkError` when the directory
 * cannot be created or read (or, opened `readOnly`, does not exist).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<ReportSink.ReportSink, ReportSink.SinkError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(ReportSink.ReportSink, make(options))
