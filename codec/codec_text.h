/*
 * codec_text: a rendering of MTCTI3 messages for people, in the style of the
 * specification's trace examples:
 *
 *   Message { subscribe { requestid=1 subscribe_id=1 timeout=3600 lines { flags=0x7 } } }
 *
 * Default-valued fields are left out, enums print by name, GUIDs (16-byte
 * guid fields) as UUID strings, gcid as lowercase hex, featuresavailable as
 * hex followed by the spec's names (featuresavailable=0x23 DROP ANSWER
 * REDIRECT), flags and ccflags in hex.  Used for logs; not parsed back.
 */
#ifndef CODEC_TEXT_H
#define CODEC_TEXT_H

#include <protobuf-c/protobuf-c.h>

/*
 * Render `msg` (any message of ipo_mtcti3.proto).  multiline 0 gives one line;
 * otherwise one field per line, indented by two spaces a level.  Returns a
 * malloc'd string the caller frees, or NULL when out of memory.
 */
char *codec_text_print(const ProtobufCMessage *msg, int multiline);

#endif
