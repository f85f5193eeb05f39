package tsa

import (
	"encoding/asn1"
	"fmt"
	"strings"
)

// PKIStatus values of RFC 3161 §2.4.2.
const (
	statusGranted   = 0
	statusRejection = 2
)

// failureInfo is a bit of PKIFailureInfo (RFC 3161 §2.4.2).
type failureInfo int

// The PKIFailureInfo bits this TSA sets.
const (
	failBadAlg              failureInfo = 0
	failBadDataFormat       failureInfo = 5
	failUnacceptedPolicy    failureInfo = 15
	failUnacceptedExtension failureInfo = 16
	failSystemFailure       failureInfo = 25
)

func (f failureInfo) String() string {
	switch f {
	case failBadAlg:
		return "badAlg"
	case failBadDataFormat:
		return "badDataFormat"
	case failUnacceptedPolicy:
		return "unacceptedPolicy"
	case failUnacceptedExtension:
		return "unacceptedExtension"
	case failSystemFailure:
		return "systemFailure"
	}
	return fmt.Sprintf("failureInfo(%d)", int(f))
}

// refusal is the TSA's reason for answering a request with PKIStatus
// rejection.
type refusal struct {
	info   failureInfo
	reason string // goes to the client as the PKIStatusInfo's statusString
	// malformed is set when the request is not a TimeStampReq at all,
	// rather than one the TSA does not serve.
	malformed bool
}

func refuse(info failureInfo, format string, args ...any) *refusal {
	return &refusal{info: info, reason: fmt.Sprintf(format, args...)}
}

func malformed(format string, args ...any) *refusal {
	r := refuse(failBadDataFormat, format, args...)
	r.malformed = true
	return r
}

// timeStampResp is TimeStampResp of RFC 3161 §2.4.2.
type timeStampResp struct {
	Status         pkiStatusInfo
	TimeStampToken asn1.RawValue `asn1:"optional"`
}

// pkiStatusInfo is PKIStatusInfo of RFC 3161 §2.4.2.
type pkiStatusInfo struct {
	Status       int
	StatusString []asn1.RawValue `asn1:"optional"` // PKIFreeText: UTF8Strings
	FailInfo     asn1.BitString  `asn1:"optional"`
}

// refusalResponse is the TimeStampResp that refuses a request for ref.
func refusalResponse(ref *refusal) ([]byte, error) {
	resp, err := asn1.Marshal(timeStampResp{Status: pkiStatusInfo{
		Status:       statusRejection,
		StatusString: []asn1.RawValue{{Tag: asn1.TagUTF8String, Bytes: []byte(strings.ToValidUTF8(ref.reason, "?"))}},
		FailInfo:     failureBits(ref.info),
	}})
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding a refusal: %w", err)
	}
	return resp, nil
}

// failureBits encodes the single bit f as a DER named BIT STRING: no
// trailing zero bits.
func failureBits(f failureInfo) asn1.BitString {
	n := int(f)
	b := make([]byte, n/8+1)
	b[n/8] = 0x80 >> (n % 8)
	return asn1.BitString{Bytes: b, BitLength: n + 1}
}
