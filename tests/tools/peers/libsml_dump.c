/* Prints every list entry libsml (volkszaehler/libsml, Debian's libsml-dev) decodes
 * from one SML transmission on stdin, one line each:
 *     OBIS|kind|raw|scaler|unit
 * kind is int, uint, octets or bool; raw is the integer as libsml holds it, or hex;
 * scaler and unit are "-" when absent. Exit 1 when libsml parses nothing.
 * Compiled by tests/tools/test_sml_peers.py for the cross-check. */
#include <inttypes.h>
#include <stdio.h>
#include <sml/sml_file.h>
#include <sml/sml_get_list_response.h>
#include <sml/sml_message.h>
#include <sml/sml_value.h>

static void print_raw(sml_value *v) {
	int kind = v->type & SML_TYPE_FIELD;
	int size = v->type & SML_LENGTH_FIELD;
	if (kind == SML_TYPE_OCTET_STRING) {
		printf("octets|");
		for (int i = 0; i < v->data.bytes->len; i++)
			printf("%02X", (unsigned char)v->data.bytes->str[i]);
	} else if (kind == SML_TYPE_BOOLEAN) {
		printf("bool|%d", *v->data.boolean ? 1 : 0);
	} else if (kind == SML_TYPE_INTEGER) {
		int64_t n = size == 1 ? *v->data.int8 : size == 2 ? *v->data.int16
			: size == 4 ? *v->data.int32 : *v->data.int64;
		printf("int|%" PRId64, n);
	} else {
		uint64_t n = size == 1 ? *v->data.uint8 : size == 2 ? *v->data.uint16
			: size == 4 ? *v->data.uint32 : *v->data.uint64;
		printf("uint|%" PRIu64, n);
	}
}

int main(void) {
	static unsigned char buf[65536];
	size_t n = fread(buf, 1, sizeof buf, stdin);
	if (n < 16)
		return 1;
	sml_file *file = sml_file_parse(buf + 8, n - 16);
	int entries = 0;
	for (int m = 0; file && m < file->messages_len; m++) {
		sml_message *msg = file->messages[m];
		if (!msg->message_body || *msg->message_body->tag != SML_MESSAGE_GET_LIST_RESPONSE)
			continue;
		sml_get_list_response *body = (sml_get_list_response *)msg->message_body->data;
		for (sml_list *e = body->val_list; e; e = e->next) {
			unsigned char *o = (unsigned char *)e->obj_name->str;
			printf("%d-%d:%d.%d.%d*%d|", o[0], o[1], o[2], o[3], o[4], o[5]);
			print_raw(e->value);
			if (e->scaler)
				printf("|%d", *e->scaler);
			else
				printf("|-");
			if (e->unit)
				printf("|%d\n", *e->unit);
			else
				printf("|-\n");
			entries++;
		}
	}
	return entries ? 0 : 1;
}
