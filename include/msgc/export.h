/* MSGC_EXPORT marks the symbols of libmsgc's public API.
 *
 * libmsgc is built as a static library by default; then MSGC_EXPORT is
 * empty. When it is built as a shared library (MSGC_SHARED_LIBRARY defined
 * for the library and its users, MSGC_COMPILE_LIBRARY only while compiling
 * the library, with -fvisibility=hidden) only marked symbols are exported.
 *
 * Valid C and C++. */
#ifndef MSGC_EXPORT_H_
#define MSGC_EXPORT_H_

#if !defined(MSGC_EXPORT)
#if defined(MSGC_SHARED_LIBRARY) && defined(MSGC_COMPILE_LIBRARY)
#define MSGC_EXPORT __attribute__((visibility("default")))
#else
#define MSGC_EXPORT
#endif
#endif /* !defined(MSGC_EXPORT) */

#endif /* MSGC_EXPORT_H_ */
