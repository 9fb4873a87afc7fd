/*
 * args: the arguments of a Web API request as one JSON object, parsed
 * from the query string and a form or JSON body.  The backend and the
 * edges use the same parser, so that a request means the same wherever
 * it is answered.
 *
 * Limits: a body larger than the HTTP limit never gets here (413); these
 * bound what a body within it may build.
 */
#ifndef PARLEY_ARGS_H
#define PARLEY_ARGS_H

#include <stddef.h>

#include <jansson.h>

#define ARGS_MAX            64    /* arguments per request */
#define ARGS_NAME_MAX       64    /* bytes in an argument name */
#define ARGS_JSON_DEPTH_MAX 32    /* nesting of arrays and objects */
#define ARGS_JSON_NODES_MAX 20000 /* values in one JSON document */

/*
 * Parses a request's arguments into a new JSON object that the caller
 * owns: the query string (may be NULL), then the body according to its
 * content type (NULL or empty with an empty body is fine).  A form body
 * and the query give string values; a JSON body gives whatever types it
 * holds.  Returns the object, or NULL with *err set to a static Slack
 * error name: invalid_form_data, invalid_json, json_not_object,
 * invalid_arg_name, invalid_array_arg, invalid_arguments (a duplicated
 * or NUL-holding argument, too many), invalid_charset, invalid_post_type,
 * missing_post_type.
 */
json_t *args_parse(const char *ctype, const char *body, size_t len,
    const char *query, size_t qlen, const char **err);

/*
 * Parses JSON text with the limits above (depth, node count, valid
 * UTF-8, no duplicate keys).  Returns a new reference or NULL.
 */
json_t *args_json_parse(const char *text, size_t len);

#endif
